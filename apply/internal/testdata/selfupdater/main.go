//go:build !windows

// Command selfupdater is built by package apply's tests, three times with
// different versions, to show a process updating itself with the default
// target (its own executable) and re-executing the new binary.
//
//	selfupdater version
//	selfupdater update REPO_URL VERSION PUBLIC_KEY_FILE
package main

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/safeupdate/safeupdate/apply"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.0.0"

func main() {
	if len(os.Args) == 2 && os.Args[1] == "version" {
		fmt.Println(version)
		return
	}
	if len(os.Args) != 5 || os.Args[1] != "update" {
		fmt.Fprintln(os.Stderr, "usage: selfupdater version | update REPO_URL VERSION PUBLIC_KEY_FILE")
		os.Exit(2)
	}
	if err := update(os.Args[2], os.Args[3], os.Args[4]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func update(repo, to, keyFile string) error {
	pub, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	// Find the executable before replacing it: afterwards the running
	// image is no longer the file at that path.
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = apply.Apply(ctx,
		apply.SourceRepo(repo),
		apply.Version(to),
		apply.PublicKey(pub),
		apply.CurrentVersion(version),
	)
	if rerr := apply.RollbackError(err); rerr != nil {
		return fmt.Errorf("update failed and the previous version could not be restored: %w", err)
	}
	if err != nil {
		return err
	}
	return syscall.Exec(exe, []string{exe, "version"}, os.Environ())
}
