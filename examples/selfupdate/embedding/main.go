//go:build unix

// Command embedding is the README's example of a program that updates
// itself. It is compiled, and the README is checked to hold it verbatim
// (readme_test.go), so the two cannot drift apart. release.pub is a
// throwaway key whose private half was deleted: pin your own.
package main

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/safeupdate/safeupdate/apply"
)

// releaseKey is the publisher's public key (repotool keygen's .pub file),
// pinned at build time: only releases it signed are ever installed.
//
//go:embed release.pub
var releaseKey []byte

const version = "1.0.0"

func main() {
	if len(os.Args) == 3 && os.Args[1] == "update" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		if err := update(ctx, os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Println("running version", version)
}

// update installs release `to` over this program's binary, then restarts
// the program. It returns only on failure.
func update(ctx context.Context, to string) error {
	exe, err := os.Executable() // before the file at that path is replaced
	if err != nil {
		return err
	}
	err = apply.Apply(ctx,
		apply.SourceRepo("https://updates.example.com/myapp"),
		apply.Version(to),
		apply.CurrentVersion(version), // refuse older releases (downgrades)
		apply.PublicKey(releaseKey),
		apply.Logger(slog.Default()),
	)
	if apply.RollbackError(err) != nil {
		// The new binary failed to install AND the old one could not be
		// put back; err says where the backup is. A human must step in.
		return fmt.Errorf("update failed, binary NOT restored: %w", err)
	}
	if err != nil {
		return fmt.Errorf("update failed, still running %s: %w", version, err)
	}
	// Become the new version: same process id, no update request in the
	// arguments. (Windows has no exec: start exe, then exit.)
	return syscall.Exec(exe, []string{exe}, os.Environ())
}
