package main

import (
	"context"
	"crypto"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/safeupdate/safeupdate/repotool"
)

var rotateCommand = &command{
	name:    "rotate",
	summary: "write the next trust root: add or remove keys, change thresholds",
	usage: "rotate --repo DIR [--add-release-key PUB] [--remove-release-key ID] [--add-root-key PUB]\n" +
		"       [--remove-root-key ID] [--add-channel-key PUB] [--remove-channel-key ID] [--threshold N]\n" +
		"       [--root-threshold N] [--channel-threshold N] [--expires DURATION] --sign KEY...",
	about: `Writes DIR/N+1.root.json and DIR/root.json, the successor of the current root
with the keys and thresholds changed as asked; the other keys stay. Clients accept
it only if it is signed by a threshold of the current root's root keys AND of its
own, so when root keys change, old and new ones must both sign. Each --sign key
signs; if they are not enough, the root is written as DIR/N+1.root.json.draft and
the missing keys are listed: add their signatures with 'repotool sign-root'.
A key to remove is named by its id (or the first 8+ hex digits of it) or by its
public key file. Removing a release key revokes it: clients that reach the new
root refuse releases only it signed. Flags that add or remove are repeatable.`,
	example: `  repotool rotate --repo repo --add-release-key keys/release2.pub \
    --remove-release-key keys/release.pub --sign keys/root.key
  repotool rotate --repo repo --add-root-key keys/root2.pub --remove-root-key 1a2b3c4d \
    --sign keys/root.key    # then: repotool sign-root --repo repo --key keys/root2.key`,
	flags: func(fs *pflag.FlagSet) {
		fs.String("repo", "", "repository `DIR` or bucket URL (required)")
		fs.StringArray("add-release-key", nil, "add the release-signing public `KEY` file")
		fs.StringArray("remove-release-key", nil, "remove the release key with this `ID` or public key file")
		fs.StringArray("add-root-key", nil, "add the root public `KEY` file")
		fs.StringArray("remove-root-key", nil, "remove the root key with this `ID` or public key file")
		fs.StringArray("add-channel-key", nil, "add the channel-signing public `KEY` file")
		fs.StringArray("remove-channel-key", nil, "remove the channel key with this `ID` or public key file")
		fs.Int("threshold", 0, "`N` release keys must sign each release (default: unchanged)")
		fs.Int("root-threshold", 0, "`N` root keys must sign each root (default: unchanged)")
		fs.Int("channel-threshold", 0, "`N` channel keys must sign each channel file (default: unchanged)")
		fs.Duration("expires", 8760*time.Hour, "the new root expires after `DURATION`")
		fs.StringArray("sign", nil, "a root `KEY` to sign with: a private key file or a KMS key URI (required, repeatable)")
		fs.String("passphrase-file", "", "read the passphrase of encrypted keys from `FILE`")
		fs.String("pin", "", "the publisher's pin `DIR`, the local trust the repository is checked against (default: one per repository in the user's config directory)")
		fs.Bool("dry-run", false, "show the changes and who must sign; sign and write nothing")
		fs.Bool("json", false, "print the result as JSON")
	},
	run: runRotate,
}

func runRotate(c *cli, args []string) error {
	fs, err := c.parseNoArgs(args, "repo")
	if err != nil {
		return err
	}
	var cfg repotool.RotateConfig
	cfg.Repo, _ = fs.GetString("repo")
	if cfg.Pin, err = pinFlag(fs, cfg.Repo); err != nil {
		return err
	}
	cfg.DryRun, _ = fs.GetBool("dry-run")
	asJSON, _ := fs.GetBool("json")
	for _, t := range []struct {
		flag string
		dst  *int
	}{{"threshold", &cfg.Threshold}, {"root-threshold", &cfg.RootThreshold}, {"channel-threshold", &cfg.ChannelThreshold}} {
		*t.dst, _ = fs.GetInt(t.flag)
		if fs.Changed(t.flag) && *t.dst < 1 {
			return usagef("--%s %d: want at least 1", t.flag, *t.dst)
		}
	}
	if cfg.Expires, err = expiresFlag(fs); err != nil {
		return err
	}
	for _, k := range []struct {
		flag string
		dst  *[]crypto.PublicKey
	}{{"add-root-key", &cfg.AddRootKeys}, {"add-release-key", &cfg.AddReleaseKeys}, {"add-channel-key", &cfg.AddChannelKeys}} {
		files, _ := fs.GetStringArray(k.flag)
		if *k.dst, err = loadPublicKeys(files); err != nil {
			return err
		}
	}
	for _, k := range []struct {
		flag string
		dst  *[]string
	}{{"remove-root-key", &cfg.RemoveRootKeys}, {"remove-release-key", &cfg.RemoveReleaseKeys}, {"remove-channel-key", &cfg.RemoveChannelKeys}} {
		refs, _ := fs.GetStringArray(k.flag)
		if *k.dst, err = keyIDs(refs); err != nil {
			return err
		}
	}
	signFiles, _ := fs.GetStringArray("sign")
	passFile, _ := fs.GetString("passphrase-file")
	if len(signFiles) == 0 {
		return usagef("missing --sign")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Keys, err = c.loadKeys(ctx, signFiles, passFile); err != nil {
		return err
	}
	res, err := repotool.Rotate(ctx, cfg)
	if err != nil {
		return err
	}
	if asJSON {
		return c.printRootJSON(res)
	}
	c.printRoot(res, cfg.Repo)
	return nil
}
