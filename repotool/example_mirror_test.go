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

// A mirror copies a repository to another store (here a directory; an
// s3://, gs:// or azblob:// URL works the same), verifying every release
// against the publisher's key before writing it.
func ExampleMirror() {
	dir, err := os.MkdirTemp("", "repotool-mirror")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	key, err := keys.Generate(keys.Ed25519)
	if err != nil {
		log.Fatal(err)
	}
	bin := filepath.Join(dir, "app.sh")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	src := filepath.Join(dir, "repo")
	_, err = repotool.Add(ctx, repotool.AddConfig{
		Repo: src, Binary: bin, Version: "1.0.0", OS: "linux", Arch: "amd64",
		Keys: []crypto.Signer{key},
	})
	if err != nil {
		log.Fatal(err)
	}
	res, err := repotool.Mirror(ctx, repotool.MirrorConfig{
		From: src, To: "file://" + filepath.ToSlash(filepath.Join(dir, "mirror")),
		Keys: []crypto.PublicKey{key.Public()},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range res.Copied {
		fmt.Println(p)
	}
	// Output:
	// 1.0.0/linux/amd64/app.sh.bz2
	// 1.0.0/linux/amd64/release.json
}
