package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/safeupdate/safeupdate/repotool"
)

var signCommand = &command{
	name:    "sign",
	summary: "add a signature to an existing release",
	usage:   "sign --repo REPO --version V --os O --arch A --key K [--key K]...",
	about: `Adds a signature by each --key to the release REPO/V/OS/ARCH, changing nothing
else, so that several people can each sign with their own key. A key that already
signed is skipped. Refuses if the payload no longer matches release.json. REPO is a
directory or a file://, s3://, gs:// or azblob:// URL; release.json is replaced only
if nobody changed it meanwhile, so two signers at once never lose a signature (one
fails and runs again).`,
	example: `  repotool sign --repo repo --version 1.0.0 --os linux --arch amd64 --key keys/alice.key`,
	flags: func(fs *pflag.FlagSet) {
		fs.String("repo", "", "repository `DIR` or bucket URL (required)")
		fs.String("version", "", "release `VERSION` (required)")
		fs.String("os", "", "release `OS` (required)")
		fs.String("arch", "", "release `ARCH` (required)")
		fs.StringArray("key", nil, "private `KEY` file to sign with (required, repeatable)")
		fs.String("passphrase-file", "", "read the passphrase of encrypted keys from `FILE`")
	},
	run: runSign,
}

func runSign(c *cli, args []string) error {
	fs, err := c.parseNoArgs(args, "repo", "version", "os", "arch")
	if err != nil {
		return err
	}
	var cfg repotool.SignConfig
	cfg.Repo, _ = fs.GetString("repo")
	cfg.Version, _ = fs.GetString("version")
	cfg.OS, _ = fs.GetString("os")
	cfg.Arch, _ = fs.GetString("arch")
	keyFiles, _ := fs.GetStringArray("key")
	passFile, _ := fs.GetString("passphrase-file")
	if len(keyFiles) == 0 {
		return usagef("missing --key")
	}
	if cfg.Keys, err = c.loadKeys(keyFiles, passFile); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := repotool.Sign(ctx, cfg)
	if err != nil {
		return err
	}
	path := cfg.Version + "/" + cfg.OS + "/" + cfg.Arch
	for _, id := range res.Already {
		fmt.Fprintf(c.stdout, "%s is already signed by %s\n", path, id)
	}
	for _, id := range res.Added {
		fmt.Fprintf(c.stdout, "signed %s by %s\n", path, id)
	}
	return nil
}
