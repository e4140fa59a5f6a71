package blobsource_test

import (
	"context"
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/apply/blobsource"
	"github.com/safeupdate/safeupdate/repotool"
)

func ExampleOpen() {
	// A signed repository holding version 2.0.0 of "app", and version
	// 1.0.0 installed at target. The repository is a local directory here
	// so that the example runs anywhere; a bucket URL works the same, e.g.
	// "s3://my-bucket/myapp?region=eu-west-1", "gs://my-bucket/myapp" or
	// "azblob://my-container/myapp", with the cloud's usual credentials
	// in the environment.
	repoURL, publicKey, target, cleanup := exampleBucket()
	defer cleanup()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	src, err := blobsource.Open(ctx, repoURL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	err = apply.Apply(ctx,
		apply.WithSource(src), // instead of apply.SourceRepo
		apply.Version("2.0.0"),
		apply.PublicKey(publicKey), // pinned: the PEM from `repotool keygen`
		apply.CurrentVersion("1.0.0"),
		apply.TargetFile(target),               // omit to update the running executable
		apply.OS("linux"), apply.Arch("amd64"), // omit for this machine's platform
	)
	if err != nil {
		fmt.Println("update failed:", err)
		return
	}
	installed, _ := os.ReadFile(target)
	fmt.Printf("installed: %s", installed)
	// Output:
	// installed: app version 2.0.0
}

// exampleBucket publishes version 2.0.0 of a tiny "app" with repotool into
// a new directory, installs version 1.0.0 beside it, and returns the
// repository's URL, the public key, the installed file and a function that
// removes it all.
func exampleBucket() (repoURL string, publicKey []byte, target string, cleanup func()) {
	dir, err := os.MkdirTemp("", "blobsource-example-")
	if err != nil {
		panic(err)
	}
	kg, err := repotool.Keygen(repotool.KeygenConfig{Out: filepath.Join(dir, "keys", "release"), Unencrypted: true})
	if err != nil {
		panic(err)
	}
	key, err := repotool.LoadPrivateKey(kg.KeyPath, nil)
	if err != nil {
		panic(err)
	}
	if publicKey, err = os.ReadFile(kg.PublicPath); err != nil {
		panic(err)
	}
	bin := filepath.Join(dir, "app")
	if err := os.WriteFile(bin, []byte("app version 2.0.0\n"), 0o755); err != nil {
		panic(err)
	}
	repo := filepath.Join(dir, "repo")
	if _, err := repotool.Add(context.Background(), repotool.AddConfig{
		Repo: repo, Binary: bin, Version: "2.0.0", OS: "linux", Arch: "amd64", Keys: []crypto.Signer{key},
	}); err != nil {
		panic(err)
	}
	target = filepath.Join(dir, "installed", "app")
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		panic(err)
	}
	if err := os.WriteFile(target, []byte("app version 1.0.0\n"), 0o755); err != nil {
		panic(err)
	}
	repoURL = "file:///" + strings.TrimPrefix(filepath.ToSlash(repo), "/")
	return repoURL, publicKey, target, func() { os.RemoveAll(dir) }
}
