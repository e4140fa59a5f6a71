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

var deltaCommand = &command{
	name:    "delta",
	summary: "add a patch from an earlier release to an existing release, and re-sign it",
	usage:   "delta --repo REPO --version V --os O --arch A --from V0 [--pin DIR] --key K [--key K]... [--dry-run]",
	about: `Makes a patch from the binary of release V0 to that of release V (same platform),
writes it beside V's payload as NAME-from-V0.bsdiff, adds it to V's release.json and
re-signs that with each --key: clients running V0 then download the patch instead of
the payload (and fall back to the payload if it fails). Both releases are read back
from REPO through the client's checks and verified first, against the release keys
of the root pinned in --pin DIR, or, without --pin, as signed by one of the --key
keys; their payloads are checked, and the patch is checked as clients check it
before release.json names it. Signatures by other keys are dropped (the signed
content changed): with a threshold above one, the other signers sign again (sign).
Prints what is signed; --dry-run makes the patch and writes nothing.`,
	example: `  repotool delta --repo repo --version 1.1.0 --os linux --arch amd64 --from 1.0.0 --key keys/release.key
  repotool delta --repo repo --version 1.1.0 --os linux --arch amd64 --from 1.0.0 --pin pin --key keys/alice.key`,
	flags: func(fs *pflag.FlagSet) {
		fs.String("repo", "", "repository `DIR` or bucket URL (required)")
		fs.String("version", "", "release `VERSION` to add the patch to (required)")
		fs.String("os", "", "release `OS` (required)")
		fs.String("arch", "", "release `ARCH` (required)")
		fs.String("from", "", "the release `VERSION` to patch from (required)")
		fs.String("pin", "", "the publisher's pin `DIR`: both releases must verify against the root reached from it (default: signed by a --key)")
		fs.StringArray("key", nil, "`KEY` to sign with: a private key file or a KMS key URI (required, repeatable)")
		fs.String("passphrase-file", "", "read the passphrase of encrypted keys from `FILE`")
		fs.Bool("dry-run", false, "check, make the patch and show what would be signed; write nothing")
	},
	run: runDelta,
}

func runDelta(c *cli, args []string) error {
	fs, err := c.parseNoArgs(args, "repo", "version", "os", "arch", "from")
	if err != nil {
		return err
	}
	var cfg repotool.DeltaConfig
	cfg.Repo, _ = fs.GetString("repo")
	cfg.Version, _ = fs.GetString("version")
	cfg.OS, _ = fs.GetString("os")
	cfg.Arch, _ = fs.GetString("arch")
	cfg.From, _ = fs.GetString("from")
	cfg.Pin, _ = fs.GetString("pin")
	cfg.DryRun, _ = fs.GetBool("dry-run")
	keyFiles, _ := fs.GetStringArray("key")
	passFile, _ := fs.GetString("passphrase-file")
	if len(keyFiles) == 0 {
		return usagef("missing --key")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Keys, err = c.loadKeys(ctx, keyFiles, passFile); err != nil {
		return err
	}
	res, err := repotool.Delta(ctx, cfg)
	if err != nil {
		return err
	}
	r, p, dir := res.Release, res.Patch, res.Dir
	fmt.Fprintf(c.stdout, "%s: binary sha256 %s, %d bytes; payload %s, %d bytes\n", dir, r.Hash, r.Size, r.Binary, r.CompressedSize)
	if res.Root > 0 {
		fmt.Fprintf(c.stdout, "%s: checked against root version %d, reached from the pin %s\n", dir, res.Root, cfg.Pin)
	} else {
		fmt.Fprintf(c.stdout, "%s: checked as signed by a --key\n", dir)
	}
	fmt.Fprintf(c.stdout, "%s: patch from %s (binary sha256 %s, %d bytes): %s, sha256 %s, %d bytes (%.1f%% of the payload), %s\n",
		dir, p.BaseVersion, p.BaseHash, p.BaseSize, p.File, p.Hash, p.Size, 100*float64(p.Size)/float64(r.CompressedSize), p.Format)
	for _, id := range res.Dropped {
		fmt.Fprintf(c.stderr, "warning: the signature by %s was dropped (it signed the release without the patch); that key must sign again: repotool sign --repo %s --version %s --os %s --arch %s --key KEY\n", id, cfg.Repo, r.Version, r.OS, r.Arch)
	}
	verb := "signed"
	if res.DryRun {
		verb = "would be signed"
	}
	for _, id := range res.Signed {
		fmt.Fprintf(c.stdout, "%s %s by %s\n", dir, verb, id)
	}
	if res.DryRun {
		fmt.Fprintf(c.stdout, "dry run: nothing was written\n")
	}
	return nil
}
