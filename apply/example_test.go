package apply_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/safeupdate/safeupdate/apply"
)

func ExampleApply() {
	// A signed repository holding version 2.0.0 of "app", served on
	// 127.0.0.1, and version 1.0.0 installed at target.
	repoURL, publicKey, target, cleanup := exampleRepository()
	defer cleanup()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err := apply.Apply(ctx,
		apply.SourceRepo(repoURL),
		apply.Version("2.0.0"),
		apply.PublicKey(publicKey), // pinned: the PEM from `repotool keygen`
		apply.CurrentVersion("1.0.0"),
		apply.TargetFile(target),               // omit to update the running executable
		apply.OS("linux"), apply.Arch("amd64"), // omit for this machine's platform
	)
	if rerr := apply.RollbackError(err); rerr != nil {
		fmt.Println("update failed and the previous binary could not be put back:", err)
		return
	}
	if err != nil {
		fmt.Println("update failed, the previous binary is in place:", err)
		return
	}
	// A program updating itself would now re-execute: syscall.Exec(exe, os.Args, os.Environ()).
	installed, _ := os.ReadFile(target)
	kept, _ := os.ReadFile(target + ".backup")
	fmt.Printf("installed: %sbackup: %s", installed, kept)
	// Output:
	// installed: app version 2.0.0
	// backup: app version 1.0.0
}

func ExampleCheck() {
	repoURL, publicKey, _, cleanup := exampleRepository()
	defer cleanup()

	rel, err := apply.Check(context.Background(),
		apply.SourceRepo(repoURL),
		apply.Version("2.0.0"),
		apply.PublicKey(publicKey),
		apply.OS("linux"), apply.Arch("amd64"),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("verified:", rel.Version, rel.OS, rel.Arch, rel.Size, "bytes")

	// A version the repository does not have.
	_, err = apply.Check(context.Background(),
		apply.SourceRepo(repoURL),
		apply.Version("9.9.9"),
		apply.PublicKey(publicKey),
		apply.OS("linux"), apply.Arch("amd64"),
	)
	fmt.Println(errors.Is(err, apply.ErrNotFound))
	// Output:
	// verified: 2.0.0 linux amd64 18 bytes
	// true
}

// exampleRepository publishes version 2.0.0 of a tiny "app" to a new
// repository served on 127.0.0.1, installs version 1.0.0 in a temporary
// directory, and returns the repository URL, the public key, the installed
// file and a function that removes it all.
func exampleRepository() (repoURL string, publicKey []byte, target string, cleanup func()) {
	dir, err := os.MkdirTemp("", "apply-example-")
	if err != nil {
		panic(err)
	}
	key, err := generateKey()
	if err != nil {
		panic(err)
	}
	repo := filepath.Join(dir, "repo")
	if _, err := publishTo(repo, "2.0.0", "linux", "amd64", []byte("app version 2.0.0\n"), key); err != nil {
		panic(err)
	}
	target = filepath.Join(dir, "app")
	if err := os.WriteFile(target, []byte("app version 1.0.0\n"), 0o755); err != nil {
		panic(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := httptest.NewUnstartedServer(http.FileServer(http.Dir(repo)))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	return srv.URL, key.pub, target, func() {
		srv.Close()
		os.RemoveAll(dir)
	}
}
