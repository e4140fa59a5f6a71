//go:build !windows

// Command selfupdater is built by package apply's tests, three times with
// different versions, to show a process updating itself with the default
// target (its own executable): update installs one version and re-executes
// the new binary; daemon installs several in turn in one process, without
// re-executing, as a long-running program would, printing each version
// once it is installed.
//
//	selfupdater version
//	selfupdater update REPO_URL VERSION PUBLIC_KEY_FILE
//	selfupdater daemon REPO_URL PUBLIC_KEY_FILE VERSION...
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
	var err error
	switch {
	case len(os.Args) == 5 && os.Args[1] == "update":
		err = update(os.Args[2], os.Args[3], os.Args[4])
	case len(os.Args) >= 5 && os.Args[1] == "daemon":
		err = daemon(os.Args[2], os.Args[3], os.Args[4:])
	default:
		fmt.Fprintln(os.Stderr, "usage: selfupdater version | update REPO_URL VERSION PUBLIC_KEY_FILE | daemon REPO_URL PUBLIC_KEY_FILE VERSION...")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// daemon installs each version in turn over its own executable, with the
// default target, and never re-executes: the process keeps running the
// first image while the file at its path moves on.
func daemon(repo, keyFile string, versions []string) error {
	pub, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	installed := version
	for _, to := range versions {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := apply.Apply(ctx,
			apply.SourceRepo(repo),
			apply.Version(to),
			apply.PublicKey(pub),
			apply.CurrentVersion(installed),
		)
		cancel()
		if err != nil {
			return fmt.Errorf("updating %s to %s: %w", installed, to, err)
		}
		installed = to
		fmt.Println(installed)
	}
	return nil
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
