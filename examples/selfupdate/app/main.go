// Command app is the tiny program the selfupdate demo builds, publishes and
// updates. It embeds package apply with a pinned release key, the way any
// program that updates itself would.
//
//	app                                  print the version and exit
//	app -update REPO_URL -to VERSION     update to VERSION, then restart
//
// The demo makes a fresh key on every run, so it passes the key and the
// version at link time:
//
//	go build -ldflags "-X main.version=1.0.0 -X main.releaseKey=BASE64_PEM" ./examples/selfupdate/app
//
// A real program would rather //go:embed its release.pub (see the README).
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/safeupdate/safeupdate/apply"
)

// Set at build time with -ldflags -X.
var (
	version    = "0.0.0"
	releaseKey = "" // the release public key (PEM), base64-encoded
)

func main() {
	updateFrom := flag.String("update", "", "update from the repository at `URL`, then restart")
	updateTo := flag.String("to", "", "the `VERSION` to update to (with -update)")
	flag.Parse()

	fmt.Printf("app %s (pid %d)\n", version, os.Getpid())
	if *updateFrom == "" {
		return
	}
	if *updateTo == "" {
		fmt.Fprintln(os.Stderr, "app: -update needs -to VERSION")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := update(ctx, *updateFrom, *updateTo); err != nil {
		explain(err)
		os.Exit(1)
	}
}

// update installs version `to` from repo over this program's own binary and
// re-executes it. It returns only on failure.
func update(ctx context.Context, repo, to string) error {
	pub, err := base64.StdEncoding.DecodeString(releaseKey)
	if err != nil || len(pub) == 0 {
		return errors.New("app: this build has no release key (build it with -X main.releaseKey)")
	}
	// Find the executable before replacing it: afterwards the running image
	// is no longer the file at that path.
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("updating to %s from %s\n", to, repo)
	err = apply.Apply(ctx,
		apply.SourceRepo(repo),
		apply.Version(to),
		apply.CurrentVersion(version), // refuse anything older than this
		apply.PublicKey(pub),          // only releases this key signed
		apply.Logger(logger()),
	)
	if err != nil {
		return err
	}
	fmt.Printf("installed %s, restarting\n", to)
	return restart(exe, argsWithoutUpdate())
}

// argsWithoutUpdate returns the command line this process was started
// with, minus the update request, so that the new binary starts as if the
// user had just run it.
func argsWithoutUpdate() []string {
	args := []string{os.Args[0]}
	flag.Visit(func(f *flag.Flag) {
		if f.Name != "update" && f.Name != "to" {
			args = append(args, "-"+f.Name+"="+f.Value.String())
		}
	})
	return append(args, flag.Args()...)
}

// explain prints why an update failed: the error itself, exactly as apply
// returned it, then what it means, found with errors.Is as a caller would.
func explain(err error) {
	fmt.Fprintf(os.Stderr, "update failed: %v\n", err)
	if rerr := apply.RollbackError(err); rerr != nil {
		// The install failed AND the previous binary could not be put
		// back: a human has to copy the backup over the binary.
		var ie *apply.InstallError
		if errors.As(err, &ie) {
			fmt.Fprintf(os.Stderr, "the previous binary is kept at %s: copy it back by hand\n", ie.Backup)
		}
		return
	}
	for _, k := range []struct {
		sentinel error
		name     string
		meaning  string
	}{
		{apply.ErrSignature, "ErrSignature", "release.json is not signed by the pinned key: forged or altered"},
		{apply.ErrChecksum, "ErrChecksum", "the download is not the binary that was signed"},
		{apply.ErrMetadata, "ErrMetadata", "release.json is malformed or describes another release"},
		{apply.ErrDowngrade, "ErrDowngrade", "that version is older than this one"},
		{apply.ErrTooLarge, "ErrTooLarge", "the repository sent more than was signed"},
		{apply.ErrNotFound, "ErrNotFound", "the repository has no such release"},
	} {
		if errors.Is(err, k.sentinel) {
			fmt.Fprintf(os.Stderr, "errors.Is(err, apply.%s): %s\n", k.name, k.meaning)
		}
	}
	fmt.Fprintf(os.Stderr, "app %s is still installed, unchanged\n", version)
}

// logger shows apply's progress on stderr, without timestamps.
func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}
