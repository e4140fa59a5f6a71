// Command app is the tiny program the selfupdate demo builds, publishes and
// updates. It embeds package apply, the way any program that updates itself
// would, and trusts what was set at build time: a release key (act 1) or a
// TUF trust root (act 2).
//
//	app                                  print the version and exit
//	app -update REPO_URL -to VERSION     update to VERSION, then restart
//	app -update REPO_URL -channel NAME   update to the version channel NAME
//	                                     points to, then restart (needs a root)
//
// The demo makes fresh keys on every run, so it passes the version and the
// key or root at link time, base64-encoded:
//
//	go build -ldflags "-X main.version=1.0.0 -X main.releaseKey=BASE64_PEM" ./examples/selfupdate/app
//	go build -ldflags "-X main.version=1.0.0 -X main.trustRoot=BASE64_ROOT_JSON" ./examples/selfupdate/app
//
// A real program would rather //go:embed its release.pub or root.json (see
// the README).
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
	"github.com/safeupdate/safeupdate/release"
)

// Set at build time with -ldflags -X. A build trusts either releaseKey or
// trustRoot.
var (
	version    = "0.0.0"
	releaseKey = "" // a release public key (PEM), base64-encoded
	trustRoot  = "" // a TUF trust root (root.json, as repotool init writes it), base64-encoded
)

func main() {
	updateFrom := flag.String("update", "", "update from the repository at `URL`, then restart")
	updateTo := flag.String("to", "", "the `VERSION` to update to (with -update)")
	channel := flag.String("channel", "", "update to the version channel `NAME` points to (with -update; needs a trust root)")
	flag.Parse()

	fmt.Printf("app %s (pid %d)\n", version, os.Getpid())
	if *updateFrom == "" {
		return
	}
	if (*updateTo == "") == (*channel == "") {
		fmt.Fprintln(os.Stderr, "app: -update needs either -to VERSION or -channel NAME")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := update(ctx, *updateFrom, *updateTo, *channel); err != nil {
		explain(err)
		os.Exit(1)
	}
}

// update installs version `to`, or the version channel ch points to, from
// repo over this program's own binary and re-executes it. It returns nil
// when there is nothing to update, and does not return after an update.
func update(ctx context.Context, repo, to, ch string) error {
	// Find the executable before replacing it: afterwards the running image
	// is no longer the file at that path.
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	opts, err := trustOptions(exe)
	if err != nil {
		return err
	}
	opts = append(opts,
		apply.SourceRepo(repo),
		apply.CurrentVersion(version), // refuse anything older than this
		apply.Logger(logger()),
	)
	if ch != "" {
		// Check reads and verifies the channel and the release it names;
		// Apply then installs exactly that version.
		fmt.Printf("reading channel %s from %s\n", ch, repo)
		r, err := apply.Check(ctx, append(opts, apply.Channel(ch))...)
		if err != nil {
			return err
		}
		if cmp, _ := release.CompareVersions(r.Version, version); cmp == 0 {
			fmt.Printf("channel %s points to %s: up to date\n", ch, r.Version)
			return nil
		}
		fmt.Printf("channel %s points to %s\n", ch, r.Version)
		to = r.Version
	}
	fmt.Printf("updating to %s from %s\n", to, repo)
	if err := apply.Apply(ctx, append(opts, apply.Version(to))...); err != nil {
		return err
	}
	fmt.Printf("installed %s, restarting\n", to)
	return restart(exe, argsWithoutUpdate())
}

// trustOptions returns what this build trusts, as options of Apply: the
// pinned trust root and a TrustStore beside the executable, or the pinned
// release key.
func trustOptions(exe string) ([]apply.Option, error) {
	if trustRoot != "" {
		root, err := base64.StdEncoding.DecodeString(trustRoot)
		if err != nil {
			return nil, fmt.Errorf("app: main.trustRoot is not base64: %w", err)
		}
		// The store must be writable only by whoever may replace the
		// binary; beside it, it is.
		return []apply.Option{apply.TrustRoot(root), apply.TrustStore(exe + ".trust")}, nil
	}
	pub, err := base64.StdEncoding.DecodeString(releaseKey)
	if err != nil || len(pub) == 0 {
		return nil, errors.New("app: this build trusts nothing (build it with -X main.releaseKey or -X main.trustRoot)")
	}
	return []apply.Option{apply.PublicKey(pub)}, nil // only releases this key signed
}

// argsWithoutUpdate returns the command line this process was started
// with, minus the update request, so that the new binary starts as if the
// user had just run it.
func argsWithoutUpdate() []string {
	args := []string{os.Args[0]}
	flag.Visit(func(f *flag.Flag) {
		if f.Name != "update" && f.Name != "to" && f.Name != "channel" {
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
		{apply.ErrSignature, "ErrSignature", "not signed by enough trusted keys: forged, altered, or signed by a revoked key"},
		{apply.ErrChecksum, "ErrChecksum", "the download is not the binary that was signed"},
		{apply.ErrMetadata, "ErrMetadata", "release.json is malformed or describes another release"},
		{apply.ErrDowngrade, "ErrDowngrade", "that version is older than this one"},
		{apply.ErrTooLarge, "ErrTooLarge", "the repository sent more than was signed"},
		{apply.ErrNotFound, "ErrNotFound", "the repository has no such release"},
		{apply.ErrExpired, "ErrExpired", "the channel or trust root has expired: a frozen mirror, or a publisher late to re-sign"},
		{apply.ErrReplay, "ErrReplay", "the channel is older than one this app has already seen"},
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
