package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/safeupdate/safeupdate/repotool"
)

var signCommand = &command{
	name:    "sign",
	summary: "add a signature to an existing release",
	usage:   "sign --repo REPO --version V --os O --arch A [--pin DIR] [--binary FILE] --key K [--key K]...",
	about: `Adds a signature by each --key to the release REPO/V/OS/ARCH, changing nothing
else, so that several people can each sign with their own key. A key that already
signed is skipped. Whoever can write to the storage could swap in their own binary
before you sign, so the release is first checked against what you hold locally:
  --pin DIR      the root pinned in DIR (init writes it) is walked to the current
                 root as a client does, and the release must already carry a valid
                 signature by a release key of that root; a signature by a release
                 key that does not verify is refused. Without --binary, this is the
                 default, with the repository's pin in the user's config directory.
  --binary FILE  the binary you built or received out of band: its sha256 and size
                 must be the release's. How the first signer of a release added
                 without --sign anchors it, and how a signer who must check
                 independently of the others (a threshold above one) does.
With both, both hold. Refuses if the payload no longer matches release.json. Prints
what is signed first: the binary's sha256 and size, the payload, and who signed
already; --dry-run prints it and signs nothing. REPO is a directory or a file://,
s3://, gs:// or azblob:// URL; release.json is replaced only if nobody changed it
meanwhile, so two signers at once never lose a signature (one fails and runs again).`,
	example: `  repotool sign --repo repo --version 1.0.0 --os linux --arch amd64 --binary dist/app --key keys/alice.key
  repotool sign --repo repo --version 1.0.0 --os linux --arch amd64 --pin pin --key keys/bob.key`,
	flags: func(fs *pflag.FlagSet) {
		fs.String("repo", "", "repository `DIR` or bucket URL (required)")
		fs.String("version", "", "release `VERSION` (required)")
		fs.String("os", "", "release `OS` (required)")
		fs.String("arch", "", "release `ARCH` (required)")
		fs.String("pin", "", "the publisher's pin `DIR`: the release must carry a valid signature by a release key of the root reached from it (default without --binary: one per repository in the user's config directory)")
		fs.String("binary", "", "the release's binary as you hold it, `FILE`: its sha256 and size must be the release's")
		fs.StringArray("key", nil, "`KEY` to sign with: a private key file or a KMS key URI (required, repeatable)")
		fs.String("passphrase-file", "", "read the passphrase of encrypted keys from `FILE`")
		fs.Bool("dry-run", false, "check and show what would be signed; sign and write nothing")
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
	cfg.Binary, _ = fs.GetString("binary")
	cfg.Pin, _ = fs.GetString("pin")
	cfg.DryRun, _ = fs.GetBool("dry-run")
	keyFiles, _ := fs.GetStringArray("key")
	passFile, _ := fs.GetString("passphrase-file")
	if len(keyFiles) == 0 {
		return usagef("missing --key")
	}
	if cfg.Pin == "" && cfg.Binary == "" {
		if cfg.Pin, err = repotool.DefaultPin(cfg.Repo); err != nil {
			return usagef("missing --pin or --binary, and no default pin: %s", strings.TrimPrefix(err.Error(), "repotool: "))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Keys, err = c.loadKeys(ctx, keyFiles, passFile); err != nil {
		return err
	}
	res, err := repotool.Sign(ctx, cfg)
	if err != nil {
		return err
	}
	c.printSign(res, cfg.Pin)
	return nil
}

// printSign shows what was checked and signed: the release's binary and
// payload, the anchors, the signatures already there, then the new ones.
func (c *cli) printSign(res *repotool.SignResult, pinDir string) {
	r, dir := res.Release, res.Dir
	fmt.Fprintf(c.stdout, "%s: binary sha256 %s, %d bytes; payload %s, %d bytes\n", dir, r.Hash, r.Size, r.Binary, r.CompressedSize)
	if res.Root > 0 {
		fmt.Fprintf(c.stdout, "%s: checked against root version %d, reached from the pin %s\n", dir, res.Root, pinDir)
	}
	if res.Binary != "" {
		fmt.Fprintf(c.stdout, "%s: checked against the local binary %s: same sha256 and size\n", dir, res.Binary)
	}
	if len(res.Existing) == 0 {
		fmt.Fprintf(c.stdout, "%s: no signatures yet\n", dir)
	}
	for _, e := range res.Existing {
		var what string
		switch e.Status {
		case repotool.SignatureValid:
			what = fmt.Sprintf("valid, a release key of root version %d", res.Root)
		case repotool.SignatureNotReleaseKey:
			what = fmt.Sprintf("not a release key of root version %d, ignored by its clients", res.Root)
		default:
			what = "not checked (no --pin)"
		}
		fmt.Fprintf(c.stdout, "%s: signature by %s: %s\n", dir, e.KeyID, what)
	}
	for _, id := range res.Outside {
		fmt.Fprintf(c.stderr, "warning: key %s is not a release key of root version %d: its clients do not count this signature until a rotation adds the key\n", id, res.Root)
	}
	for _, id := range res.Already {
		fmt.Fprintf(c.stdout, "%s is already signed by %s\n", dir, id)
	}
	if res.DryRun {
		for _, id := range res.Added {
			fmt.Fprintf(c.stdout, "%s would be signed by %s\n", dir, id)
		}
		fmt.Fprintf(c.stdout, "dry run: nothing was signed or written\n")
		return
	}
	for _, id := range res.Added {
		fmt.Fprintf(c.stdout, "signed %s by %s\n", dir, id)
	}
}
