package main

import (
	"context"
	"crypto"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/repotool"
)

var mirrorCommand = &command{
	name:    "mirror",
	summary: "copy a repository to another store, verifying everything first",
	usage: "mirror --from REPO --to REPO --root ROOT.json [--verify] [--force] [--version V]... [--channel NAME]...\n" +
		"       mirror --from REPO --to REPO --key PUB [--key PUB]... [--threshold N] [--verify] [--force] [--version V]...",
	about: `Copies the repository --from (a directory, file://, s3://, gs://, azblob:// or
http(s):// URL) to --to (a directory, created if missing, or a file://, s3://, gs://
or azblob:// URL), checking every file before it is written, so that a compromised
source cannot poison the mirror.

Each release.json must be signed as a client requires (--root: by the release keys
of the newest root; --key: by --threshold of the keys) and name the directory it is
in. Its payload is streamed through a check of the signed compressed size and
sha256, and the destination discards it unless it matches; release.json is written
last. With --verify, each payload is also decompressed as it is copied, and the
binary's size and sha256 checked, so that a payload failing those is not written
either. With --root, the roots 1.root.json up to the newest (a chain through
the pinned root) and root.json are copied, then every channel, which must verify
against the newest root's channel keys and point only at releases copied. With
--key, roots and channels are not copied (keys cannot verify them).

Files the destination already holds are skipped; a release.json that only gained
signatures, and a newer root.json or channel, replace the old ones. Any other
difference is refused unless --force. Nothing is ever deleted. Without --key or
--root, mirror refuses; --unverified-unsafe copies without checking signatures.`,
	example: `  repotool mirror --from repo --to s3://updates/app?region=eu-west-1 --root 1.root.json
  repotool mirror --from https://updates.example.com --to mirror --key release.pub --version 1.2.0
  repotool mirror --from gs://releases/app --to azblob://mirror/app --root 1.root.json --verify`,
	flags: func(fs *pflag.FlagSet) {
		fs.String("from", "", "source `REPO`: directory or URL (required)")
		fs.String("to", "", "destination `REPO`: directory or bucket URL (required)")
		fs.String("root", "", "verify against this pinned trust root `FILE`")
		fs.StringArray("key", nil, "trusted public `KEY` file, instead of --root (repeatable)")
		fs.Int("threshold", 1, "with --key: `N` distinct keys must sign each release")
		fs.Bool("verify", false, "also decompress each payload as stored and check the binary")
		fs.Bool("force", false, "replace differing files of the destination")
		fs.StringArray("version", nil, "copy only this `VERSION` (repeatable; required for http(s))")
		fs.StringArray("channel", nil, "with --root and an http(s) source: copy channel `NAME` (repeatable)")
		fs.Bool("unverified-unsafe", false, "copy without checking signatures (a compromised source poisons the mirror)")
	},
	run: runMirror,
}

func runMirror(c *cli, args []string) error {
	fs, err := c.parseNoArgs(args, "from", "to")
	if err != nil {
		return err
	}
	var cfg repotool.MirrorConfig
	cfg.From, _ = fs.GetString("from")
	cfg.To, _ = fs.GetString("to")
	cfg.Threshold, _ = fs.GetInt("threshold")
	cfg.CheckBinary, _ = fs.GetBool("verify")
	cfg.Force, _ = fs.GetBool("force")
	cfg.Versions, _ = fs.GetStringArray("version")
	cfg.Channels, _ = fs.GetStringArray("channel")
	cfg.UnverifiedUnsafe, _ = fs.GetBool("unverified-unsafe")
	keyFiles, _ := fs.GetStringArray("key")
	rootFile, _ := fs.GetString("root")
	given := 0
	for _, b := range []bool{rootFile != "", len(keyFiles) > 0, cfg.UnverifiedUnsafe} {
		if b {
			given++
		}
	}
	switch {
	case given == 0:
		return usagef("give --root or --key to verify the source against")
	case given > 1:
		return usagef("give one of --root, --key and --unverified-unsafe")
	case len(keyFiles) == 0 && fs.Changed("threshold"):
		return usagef("--threshold goes with --key")
	case rootFile == "" && len(cfg.Channels) > 0:
		return usagef("--channel needs --root")
	case isURL(cfg.From) && len(cfg.Versions) == 0 && len(cfg.Channels) == 0:
		return usagef("--version or --channel is required for an http(s) source (HTTP cannot list directories)")
	}
	if len(keyFiles) > 0 {
		if cfg.Threshold < 1 || cfg.Threshold > len(keyFiles) {
			return usagef("--threshold %d: want 1 to the number of --key (%d)", cfg.Threshold, len(keyFiles))
		}
		for _, f := range keyFiles {
			pub, err := repotool.LoadPublicKey(f)
			if err != nil {
				return err
			}
			cfg.Keys = append(cfg.Keys, crypto.PublicKey(pub))
		}
	} else {
		cfg.Threshold = 0
	}
	if rootFile != "" {
		if cfg.Root, err = readRoot(rootFile); err != nil {
			return err
		}
	}
	if cfg.UnverifiedUnsafe {
		fmt.Fprintln(c.stderr, "warning: --unverified-unsafe: signatures are not checked; a compromised source poisons the mirror")
	}
	cfg.Progress = c.stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := repotool.Mirror(ctx, cfg)
	if err != nil {
		return err
	}
	for _, p := range res.Copied {
		fmt.Fprintf(c.stdout, "copied %s\n", p)
	}
	fmt.Fprintf(c.stdout, "mirrored %s to %s: %d %s copied, %d already there\n", cfg.From, cfg.To,
		len(res.Copied), plural(len(res.Copied), "file", "files"), len(res.Skipped))
	for _, ch := range res.Channels {
		if ch.Rollout() != channel.Full {
			fmt.Fprintf(c.stdout, "channel %s -> %s: rollout %s%% of clients, kept\n", ch.Name(), ch.Release(), channel.FormatRollout(ch.Rollout()))
		}
	}
	if len(res.NotCopied) > 0 {
		fmt.Fprintf(c.stderr, "warning: not copied, since keys cannot verify them (give --root): %s\n", strings.Join(res.NotCopied, ", "))
	}
	return nil
}
