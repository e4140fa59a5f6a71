package repotool_test

import (
	"context"
	"crypto"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/repotool"
)

// A publisher adds a binary as a signed release, then audits the repository
// as a client would.
func Example() {
	dir, err := os.MkdirTemp("", "repotool-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	key, err := keys.Generate(keys.Ed25519)
	if err != nil {
		log.Fatal(err)
	}
	// Any file can be published; a real executable's platform is read from
	// its header, anything else needs OS and Arch.
	bin := filepath.Join(dir, "app.sh")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	repo := filepath.Join(dir, "repo")
	_, err = repotool.Add(ctx, repotool.AddConfig{
		Repo: repo, Binary: bin, Version: "1.0.0", OS: "linux", Arch: "amd64",
		Keys: []crypto.Signer{key},
	})
	if err != nil {
		log.Fatal(err)
	}
	results, err := repotool.Verify(ctx, repotool.VerifyConfig{Repo: repo, Keys: []crypto.PublicKey{key.Public()}})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range results {
		fmt.Println(r.Path, r.OK)
	}
	// Output: 1.0.0/linux/amd64 true
}
