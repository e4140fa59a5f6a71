package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/repotool"
)

var promoteCommand = &command{
	name:    "promote",
	summary: "point a channel (channels/NAME.json) at a release version",
	usage: "promote --repo DIR --channel NAME --version V [--rollout PERCENT] [--expires DURATION] --key KEY...\n" +
		"       promote --repo DIR --channel NAME --refresh [--expires DURATION] --key KEY...",
	about: `Writes DIR/channels/NAME.json, a signed pointer that tells clients following the
channel which version to install. It lists the platforms of --version whose release
verifies against the current root's release keys (others are left out, with a
warning), numbers itself one above the previous file, and expires after --expires:
clients refuse an expired channel, so re-sign it before then with --refresh, which
keeps the version and platforms (meant for a scheduled job). The --key keys must be
channel keys of the root and meet its channel threshold; otherwise nothing is
written.

--rollout offers --version to that share of clients only (0 to 100, decimals such
as 0.5 allowed; default 100): each client decides from a hash of its rollout id,
the channel and the version, so the same machines stay in as the share grows.
Raise it by promoting the same version with a higher --rollout; --rollout 0
pauses; halt by promoting the previous version. A partial rollout is a
"channel-2" file, which clients older than rollouts refuse rather than update.`,
	example: `  repotool promote --repo repo --channel stable --version 1.2.0 --key keys/channel.key
  repotool promote --repo repo --channel stable --version 1.3.0 --rollout 5 --key keys/channel.key
  repotool promote --repo repo --channel stable --refresh --expires 72h --key keys/channel.key`,
	flags: func(fs *pflag.FlagSet) {
		fs.String("repo", "", "repository `DIR` or bucket URL (required)")
		fs.String("channel", "", "channel `NAME`, such as stable (required)")
		fs.String("version", "", "release `VERSION` to point to (required unless --refresh)")
		fs.Bool("refresh", false, "re-sign the channel unchanged, with a new expiry")
		fs.String("rollout", "", "offer the version to `PERCENT` of clients (0 to 100, such as 5 or 0.5; default 100)")
		fs.Duration("expires", 168*time.Hour, "the channel expires after `DURATION`")
		fs.StringArray("key", nil, "a channel `KEY`: a private key file or a KMS key URI (required, repeatable)")
		fs.String("passphrase-file", "", "read the passphrase of encrypted keys from `FILE`")
		fs.String("pin", "", "the publisher's pin `DIR`, the local trust the repository is checked against (default: one per repository in the user's config directory)")
	},
	run: runPromote,
}

func runPromote(c *cli, args []string) error {
	fs, err := c.parseNoArgs(args, "repo", "channel")
	if err != nil {
		return err
	}
	var cfg repotool.PromoteConfig
	cfg.Repo, _ = fs.GetString("repo")
	if cfg.Pin, err = pinFlag(fs, cfg.Repo); err != nil {
		return err
	}
	cfg.Channel, _ = fs.GetString("channel")
	cfg.Version, _ = fs.GetString("version")
	cfg.Refresh, _ = fs.GetBool("refresh")
	cfg.Rollout, _ = fs.GetString("rollout")
	keyFiles, _ := fs.GetStringArray("key")
	passFile, _ := fs.GetString("passphrase-file")
	switch {
	case cfg.Refresh && cfg.Version != "":
		return usagef("--refresh keeps the channel's version; give --version or --refresh, not both")
	case cfg.Refresh && fs.Changed("rollout"):
		return usagef("--refresh keeps the channel's rollout; give --version with --rollout to change it")
	case !cfg.Refresh && cfg.Version == "":
		return usagef("missing --version (or --refresh)")
	case len(keyFiles) == 0:
		return usagef("missing --key")
	}
	if cfg.Expires, err = expiresFlag(fs); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Keys, err = c.loadKeys(ctx, keyFiles, passFile); err != nil {
		return err
	}
	res, err := repotool.Promote(ctx, cfg)
	if err != nil {
		return err
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(c.stderr, "warning: left out %s: %s\n", s.Path, s.Error)
	}
	ch := res.Channel
	what := "promoted"
	if cfg.Refresh {
		what = "refreshed"
	}
	fmt.Fprintf(c.stdout, "%s channel %s -> %s (channel version %d, root version %d)\n", what, ch.Name(), ch.Release(), ch.Seq(), res.Root)
	fmt.Fprintf(c.stdout, "platforms: %s\n", strings.Join(ch.Platforms(), " "))
	if ch.Rollout() != channel.Full {
		fmt.Fprintf(c.stdout, "rollout: %s%% of clients\n", channel.FormatRollout(ch.Rollout()))
	}
	fmt.Fprintf(c.stdout, "wrote %s (expires %s)\n", res.Path, ch.Expires().Format(time.RFC3339))
	return nil
}
