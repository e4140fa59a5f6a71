package repotool_test

import (
	"context"
	"crypto"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/repotool"
)

// A publisher writes a trust root, adds a release, points the "stable"
// channel at it, rotates the release key, and audits the repository
// against the first root, as a client that shipped with it would.
func ExampleRotate() {
	dir, err := os.MkdirTemp("", "repotool-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	newKey := func() crypto.Signer {
		k, err := keys.Generate(keys.Ed25519)
		if err != nil {
			log.Fatal(err)
		}
		return k
	}
	rootKey, releaseKey, channelKey, nextReleaseKey := newKey(), newKey(), newKey(), newKey()
	ctx := context.Background()
	repo := filepath.Join(dir, "repo")
	// The publisher's own record of the trust root, kept beside the keys:
	// Rotate and Promote check the repository against it.
	pin := filepath.Join(dir, "pin")

	_, err = repotool.Init(ctx, repotool.InitConfig{
		Repo:        repo,
		Pin:         pin,
		RootKeys:    []crypto.PublicKey{rootKey.Public()},
		ReleaseKeys: []crypto.PublicKey{releaseKey.Public()},
		ChannelKeys: []crypto.PublicKey{channelKey.Public()},
		Expires:     time.Now().AddDate(1, 0, 0),
		Keys:        []crypto.Signer{rootKey},
	})
	if err != nil {
		log.Fatal(err)
	}
	bin := filepath.Join(dir, "app.sh")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		log.Fatal(err)
	}
	_, err = repotool.Add(ctx, repotool.AddConfig{Repo: repo, Binary: bin, Version: "1.0.0", OS: "linux", Arch: "amd64",
		Keys: []crypto.Signer{releaseKey, nextReleaseKey}})
	if err != nil {
		log.Fatal(err)
	}
	_, err = repotool.Promote(ctx, repotool.PromoteConfig{Repo: repo, Pin: pin, Channel: "stable", Version: "1.0.0",
		Expires: time.Now().AddDate(0, 0, 7), Keys: []crypto.Signer{channelKey}})
	if err != nil {
		log.Fatal(err)
	}
	id, _ := keys.ID(releaseKey.Public())
	rotated, err := repotool.Rotate(ctx, repotool.RotateConfig{
		Repo:              repo,
		Pin:               pin,
		AddReleaseKeys:    []crypto.PublicKey{nextReleaseKey.Public()},
		RemoveReleaseKeys: []string{id},
		Keys:              []crypto.Signer{rootKey},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("root version", rotated.Version, "complete:", rotated.Complete)

	pinned, err := os.ReadFile(filepath.Join(repo, "1.root.json"))
	if err != nil {
		log.Fatal(err)
	}
	results, err := repotool.Verify(ctx, repotool.VerifyConfig{Repo: repo, Root: pinned})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range results {
		fmt.Println(r.Kind, r.Path, r.OK)
	}
	// Output:
	// root version 2 complete: true
	// root 1.root.json true
	// root 2.root.json true
	// release 1.0.0/linux/amd64 true
	// channel channels/stable.json true
}
