package main

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/safeupdate/safeupdate/repotool"
)

var verifyCommand = &command{
	name:    "verify",
	summary: "audit the releases of a repository (directory or URL)",
	usage:   "verify --repo DIR|URL --key PUB [--key PUB]... [--threshold N] [--version V] [--json]",
	about: `Checks every release (or those of --version) the way a client would: signatures
by --threshold of the --key public keys, signed version/os/arch equal to the path,
a plain binary name, the payload present with matching compressed and uncompressed
sha256 and sizes. Prints OK or FAIL with the reason, one line per release (--json:
a JSON array). Exits 0 only if every release verifies, 1 otherwise. Over http(s),
--version is required and every platform Go knows is probed.`,
	example: `  repotool verify --repo repo --key keys/release.pub
  repotool verify --repo https://updates.example.com --version 1.0.0 --key a.pub --key b.pub --threshold 2`,
	flags: func(fs *pflag.FlagSet) {
		fs.String("repo", "", "repository `DIR` or http(s):// URL (required)")
		fs.StringArray("key", nil, "trusted public `KEY` file (required, repeatable)")
		fs.Int("threshold", 1, "`N` distinct keys must sign each release")
		fs.String("version", "", "verify only this `VERSION` (required for a URL)")
		fs.Bool("json", false, "print the results as a JSON array")
	},
	run: runVerify,
}

func runVerify(c *cli, args []string) error {
	fs, err := c.parse(args)
	if err != nil {
		return err
	}
	if _, err := exactArgs(fs); err != nil {
		return err
	}
	if err := required(fs, "repo"); err != nil {
		return err
	}
	var cfg repotool.VerifyConfig
	cfg.Repo, _ = fs.GetString("repo")
	cfg.Version, _ = fs.GetString("version")
	cfg.Threshold, _ = fs.GetInt("threshold")
	asJSON, _ := fs.GetBool("json")
	keyFiles, _ := fs.GetStringArray("key")
	if len(keyFiles) == 0 {
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
				fmt.Fprintf(c.stdout, "OK %s\n", r.Path)
			} else {
				fmt.Fprintf(c.stdout, "FAIL %s: %s\n", r.Path, r.Error)
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
