package main

import (
	"context"
	"crypto"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/repotool"
)

var addCommand = &command{
	name:    "add",
	summary: "add a binary to a repository as a (signed) release",
	usage:   "add BINARY --repo REPO --version V [--os O] [--arch A] [--name NAME] [--compress bzip2|zstd [--zstd-level better|best]] [--sign --key K]... [--delta-from V0 [--pin DIR]]... [--force]",
	about: `Compresses BINARY (bzip2 by default) into REPO/V/OS/ARCH/NAME.bz2 (.zst with zstd)
and writes release.json beside it, signed by each --key. REPO is a directory or a
file://, s3://, gs:// or azblob:// URL (credentials from the cloud SDKs' usual
environment variables). The platform defaults to the one in the binary's own
header; a contradicting --os/--arch is refused. The payload is written first and
release.json last, each visible only once complete. An existing release is replaced
only with --force; of two publishers adding one release at once, one fails.
Without --sign the release is unsigned, which only go-updater clients and clients
that opted out of signatures accept.
--delta-from V0 (repeatable) also writes NAME-from-V0.bsdiff, a patch from the
release V0 of the same platform, and signs it in release.json: clients running V0
download it instead of the payload. V0 is read back from REPO and verified first,
against the release keys of the root pinned in --pin DIR, or, without --pin, as
signed by one of the --key keys; the patch is checked as clients check it.`,
	example: `  repotool add ./app --repo repo --version 1.0.0 --sign --key keys/release.key
  repotool add dist/app.exe --repo repo --version v1.0.1 --name app --sign --key a.key --key b.key
  repotool add ./app --repo 's3://updates/app?region=eu-west-1' --version 1.0.0 --sign --key release.key
  repotool add ./app --repo repo --version 1.1.0 --sign --key keys/release.key --delta-from 1.0.0`,
	flags: func(fs *pflag.FlagSet) {
		fs.String("repo", "", "repository `DIR` (created if missing) or bucket URL (required)")
		fs.String("version", "", "release `VERSION`, a semantic version such as 1.2.3 (required)")
		fs.String("os", "", "target `OS` (default: from the binary's header)")
		fs.String("arch", "", "target `ARCH` (default: from the binary's header)")
		fs.String("name", "", "binary `NAME` in the release (default: BINARY's base name)")
		fs.String("compress", "bzip2", "payload compression `KIND`: bzip2 (read by every client) or zstd")
		fs.String("zstd-level", "", "zstd's `LEVEL`: better (default; bzip2's size, several times faster) or best (6% smaller, as slow as bzip2)")
		fs.Bool("sign", false, "sign the release with each --key")
		fs.StringArray("key", nil, "`KEY` to sign with: a private key file or a KMS key URI (repeatable)")
		fs.String("passphrase-file", "", "read the passphrase of encrypted keys from `FILE`")
		fs.StringArray("delta-from", nil, "also write a patch from the release `VERSION` of the same platform (repeatable)")
		fs.String("pin", "", "the publisher's pin `DIR`: --delta-from releases must verify against the root reached from it (default: signed by a --key)")
		fs.Bool("force", false, "replace an existing release")
	},
	run: runAdd,
}

func runAdd(c *cli, args []string) error {
	fs, err := c.parse(args)
	if err != nil {
		return err
	}
	pos, err := exactArgs(fs, "BINARY")
	if err != nil {
		return err
	}
	if err := required(fs, "repo", "version"); err != nil {
		return err
	}
	cfg := repotool.AddConfig{Binary: pos[0]}
	cfg.Repo, _ = fs.GetString("repo")
	cfg.Version, _ = fs.GetString("version")
	cfg.OS, _ = fs.GetString("os")
	cfg.Arch, _ = fs.GetString("arch")
	cfg.Name, _ = fs.GetString("name")
	cfg.Force, _ = fs.GetBool("force")
	cfg.Compression, _ = fs.GetString("compress")
	cfg.ZstdLevel, _ = fs.GetString("zstd-level")
	cfg.DeltaFrom, _ = fs.GetStringArray("delta-from")
	cfg.Pin, _ = fs.GetString("pin")
	cfg.Progress = c.stderr
	sign, _ := fs.GetBool("sign")
	keyFiles, _ := fs.GetStringArray("key")
	passFile, _ := fs.GetString("passphrase-file")
	switch {
	case sign && len(keyFiles) == 0:
		return usagef("--sign needs at least one --key")
	case !sign && len(keyFiles) > 0:
		return usagef("--key given without --sign")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Keys, err = c.loadKeys(ctx, keyFiles, passFile); err != nil {
		return err
	}
	res, err := repotool.Add(ctx, cfg)
	if err != nil {
		return err
	}
	r := res.Release
	if res.Undetected != nil {
		fmt.Fprintf(c.stderr, "warning: cannot tell the platform of %s from its header; trusting --os %s --arch %s\n", cfg.Binary, r.OS, r.Arch)
	}
	path := r.Version + "/" + r.OS + "/" + r.Arch
	fmt.Fprintf(c.stdout, "added %s: %s, %d bytes (%d compressed)\n", path, r.Binary, r.Size, r.CompressedSize)
	for _, p := range r.Patches {
		fmt.Fprintf(c.stdout, "patch from %s: %s, %d bytes (%.1f%% of the payload)\n", p.BaseVersion, p.File, p.Size, 100*float64(p.Size)/float64(r.CompressedSize))
	}
	for _, s := range r.Signatures {
		fmt.Fprintf(c.stdout, "signed by %s\n", s.KeyID)
	}
	if len(r.Signatures) == 0 {
		fmt.Fprintf(c.stderr, "warning: release %s is unsigned; clients that verify signatures refuse it (sign it with 'repotool sign --repo %s --version %s --os %s --arch %s --binary %s --key KEY')\n", path, cfg.Repo, r.Version, r.OS, r.Arch, cfg.Binary)
	}
	return nil
}

// loadKeys resolves each --key (a private key file or a KMS key URI, see
// repotool.LoadSigner), asking for a passphrase only for encrypted files.
// A KMS key is reached now, so a key that cannot sign fails before any
// work; ctx bounds its later signing requests.
func (c *cli) loadKeys(ctx context.Context, files []string, passFile string) ([]crypto.Signer, error) {
	var signers []crypto.Signer
	seen := make(map[string]string)
	for _, f := range files {
		k, err := repotool.LoadSigner(ctx, f, c.passphrase(passFile, f, false))
		if err != nil {
			return nil, err
		}
		id, err := keys.ID(k.Public())
		if err != nil {
			return nil, err
		}
		if prev, ok := seen[id]; ok {
			return nil, usagef("--key %s and --key %s are the same key", prev, f)
		}
		seen[id] = f
		signers = append(signers, k)
	}
	return signers, nil
}
