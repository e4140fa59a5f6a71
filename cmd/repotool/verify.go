package main

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/localfile"
	"github.com/safeupdate/safeupdate/repotool"
)

var verifyCommand = &command{
	name:    "verify",
	summary: "audit the releases of a repository (directory or URL)",
	usage: "verify --repo DIR|URL --key PUB [--key PUB]... [--threshold N] [--version V] [--json]\n" +
		"       verify --repo DIR|URL --root ROOT.json [--channel NAME]... [--version V] [--json]",
	about: `Checks every release (or those of --version) the way a client would: signatures
by --threshold of the --key public keys, signed version/os/arch equal to the path,
a plain binary name, the payload present with matching compressed and uncompressed
sha256 and sizes. Prints OK or FAIL with the reason, one line per release (--json:
a JSON array). Exits 0 only if every release verifies, 1 otherwise. Over http(s),
--version is required and every platform Go knows is probed.

With --root instead of --key, audits against a pinned trust root as a client
holding it would: the chain of roots 1.root.json, 2.root.json... (each signed by
its predecessor's root keys and its own, the pinned one among them, the newest
unexpired, root.json a copy of it), then every release against the newest root's
release keys and threshold, then every channel (channels/*.json, or each
--channel) against its channel keys, unexpired, pointing at releases that verify.
Over http(s), give --version or --channel, since directories cannot be listed.`,
	example: `  repotool verify --repo repo --key keys/release.pub
  repotool verify --repo https://updates.example.com --version 1.0.0 --key a.pub --key b.pub --threshold 2
  repotool verify --repo repo --root app/1.root.json
  repotool verify --repo https://updates.example.com --root 1.root.json --channel stable`,
	flags: func(fs *pflag.FlagSet) {
		fs.String("repo", "", "repository `DIR`, bucket URL or http(s):// URL (required)")
		fs.StringArray("key", nil, "trusted public `KEY` file (required unless --root, repeatable)")
		fs.Int("threshold", 1, "`N` distinct keys must sign each release")
		fs.String("root", "", "audit against this pinned trust root `FILE` instead of --key")
		fs.StringArray("channel", nil, "with --root: check channel `NAME` (repeatable; default: all, in a directory)")
		fs.String("version", "", "verify only this `VERSION` (required for a URL)")
		fs.Bool("json", false, "print the results as a JSON array")
	},
	run: runVerify,
}

func runVerify(c *cli, args []string) error {
	fs, err := c.parseNoArgs(args, "repo")
	if err != nil {
		return err
	}
	var cfg repotool.VerifyConfig
	cfg.Repo, _ = fs.GetString("repo")
	cfg.Version, _ = fs.GetString("version")
	cfg.Threshold, _ = fs.GetInt("threshold")
	asJSON, _ := fs.GetBool("json")
	keyFiles, _ := fs.GetStringArray("key")
	rootFile, _ := fs.GetString("root")
	cfg.Channels, _ = fs.GetStringArray("channel")
	switch {
	case rootFile != "" && len(keyFiles) > 0:
		return usagef("give --key or --root, not both")
	case rootFile != "" && fs.Changed("threshold"):
		return usagef("--threshold comes from the root with --root")
	case rootFile == "" && len(cfg.Channels) > 0:
		return usagef("--channel needs --root")
	case rootFile != "":
		if isURL(cfg.Repo) && cfg.Version == "" && len(cfg.Channels) == 0 {
			return usagef("--version or --channel is required for a repository URL (HTTP cannot list directories)")
		}
		if cfg.Root, err = readRoot(rootFile); err != nil {
			return err
		}
		cfg.Threshold = 0
		return c.printVerify(cfg, asJSON)
	case len(keyFiles) == 0:
		return usagef("missing --key")
	}
	if cfg.Threshold < 1 || cfg.Threshold > len(keyFiles) {
		return usagef("--threshold %d: want 1 to the number of --key (%d)", cfg.Threshold, len(keyFiles))
	}
	if isURL(cfg.Repo) && cfg.Version == "" {
		return usagef("--version is required for a repository URL (HTTP cannot list directories)")
	}
	for _, f := range keyFiles {
		pub, err := repotool.LoadPublicKey(f)
		if err != nil {
			return err
		}
		cfg.Keys = append(cfg.Keys, crypto.PublicKey(pub))
	}
	return c.printVerify(cfg, asJSON)
}

// printVerify runs Verify and prints a line per result, or JSON.
func (c *cli) printVerify(cfg repotool.VerifyConfig, asJSON bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := repotool.Verify(ctx, cfg)
	if err != nil {
		return err
	}
	failed := false
	for _, r := range results {
		failed = failed || !r.OK
	}
	if asJSON {
		out, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%s\n", out)
	} else {
		for _, r := range results {
			if r.OK {
				fmt.Fprintf(c.stdout, "OK %s\n", label(r))
			} else {
				fmt.Fprintf(c.stdout, "FAIL %s: %s\n", label(r), r.Error)
			}
		}
	}
	if failed {
		return errReported
	}
	return nil
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// label names a result in verify's output: "1.0.0/linux/amd64", "root 3",
// "root.json", "channel stable" or, verified, "channel stable -> 1.0.0
// (expires ...)", with "rollout 20%, " before the expiry when the channel
// offers its release to part of the clients.
func label(r repotool.Result) string {
	switch r.Kind {
	case repotool.KindRoot:
		if r.Version == 0 {
			return r.Path
		}
		if r.OK && !r.Expires.IsZero() {
			return fmt.Sprintf("root %d (expires %s)", r.Version, r.Expires.Format(time.RFC3339))
		}
		return fmt.Sprintf("root %d", r.Version)
	case repotool.KindChannel:
		if r.OK && r.Rollout != "" && r.Rollout != "100" {
			return fmt.Sprintf("channel %s -> %s (rollout %s%%, expires %s)", r.Name, r.Release, r.Rollout, r.Expires.Format(time.RFC3339))
		}
		if r.OK {
			return fmt.Sprintf("channel %s -> %s (expires %s)", r.Name, r.Release, r.Expires.Format(time.RFC3339))
		}
		return "channel " + r.Name
	}
	return r.Path
}

// readRoot reads a pinned root file, bounded.
func readRoot(path string) ([]byte, error) {
	data, err := localfile.Read(path, limits.RootJSON)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if err != nil {
		return nil, fmt.Errorf("--root %s: %w", path, err)
	}
	return data, nil
}
