package main

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/repotool"
	"github.com/safeupdate/safeupdate/trust"
)

var initCommand = &command{
	name:    "init",
	summary: "write a repository's first trust root (1.root.json, root.json)",
	usage: "init --repo DIR --root-key PUB... [--root-threshold N] --release-key PUB... [--threshold N]\n" +
		"       [--channel-key PUB... [--channel-threshold N]] [--expires DURATION] --sign KEY...",
	about: `Writes DIR/1.root.json and DIR/root.json, a TUF root naming the keys clients
trust: --root-key keys sign later roots (rotation), --release-key keys sign
releases, --channel-key keys sign channel files (without them, the release keys
do). Each role needs its threshold of distinct keys. The root is signed by each
--sign key, which must be root keys; if they are fewer than --root-threshold, it
is written as DIR/1.root.json.draft instead and the missing keys are listed: add
their signatures with 'repotool sign-root'. An existing root is never replaced.`,
	example: `  repotool init --repo repo --root-key keys/root.pub --release-key keys/release.pub \
    --channel-key keys/channel.pub --sign keys/root.key
  repotool init --repo repo --root-key a.pub --root-key b.pub --root-threshold 2 \
    --release-key r1.pub --release-key r2.pub --threshold 2 --expires 17520h --sign a.key`,
	flags: func(fs *pflag.FlagSet) {
		fs.String("repo", "", "repository `DIR` (created if missing) or bucket URL (required)")
		fs.StringArray("root-key", nil, "public `KEY` file of a root key (required, repeatable)")
		fs.Int("root-threshold", 1, "`N` root keys must sign each root")
		fs.StringArray("release-key", nil, "public `KEY` file of a release-signing key (required, repeatable)")
		fs.Int("threshold", 1, "`N` release keys must sign each release")
		fs.StringArray("channel-key", nil, "public `KEY` file of a channel-signing key (repeatable; default: the release keys)")
		fs.Int("channel-threshold", 1, "`N` channel keys must sign each channel file")
		fs.Duration("expires", 8760*time.Hour, "the root expires after `DURATION`")
		fs.StringArray("sign", nil, "a root `KEY` to sign with: a private key file or a KMS key URI (required, repeatable)")
		fs.String("passphrase-file", "", "read the passphrase of encrypted keys from `FILE`")
		fs.String("pin", "", "the publisher's pin `DIR`, the local trust the repository is checked against (default: one per repository in the user's config directory)")
	},
	run: runInit,
}

func runInit(c *cli, args []string) error {
	fs, err := c.parseNoArgs(args, "repo")
	if err != nil {
		return err
	}
	var cfg repotool.InitConfig
	cfg.Repo, _ = fs.GetString("repo")
	if cfg.Pin, err = pinFlag(fs, cfg.Repo); err != nil {
		return err
	}
	cfg.RootThreshold, _ = fs.GetInt("root-threshold")
	cfg.Threshold, _ = fs.GetInt("threshold")
	cfg.ChannelThreshold, _ = fs.GetInt("channel-threshold")
	rootFiles, _ := fs.GetStringArray("root-key")
	releaseFiles, _ := fs.GetStringArray("release-key")
	channelFiles, _ := fs.GetStringArray("channel-key")
	signFiles, _ := fs.GetStringArray("sign")
	passFile, _ := fs.GetString("passphrase-file")
	switch {
	case len(rootFiles) == 0:
		return usagef("missing --root-key")
	case len(releaseFiles) == 0:
		return usagef("missing --release-key")
	case len(signFiles) == 0:
		return usagef("missing --sign")
	case len(channelFiles) == 0 && fs.Changed("channel-threshold"):
		return usagef("--channel-threshold needs --channel-key")
	}
	for _, t := range []struct {
		flag, keyFlag string
		n, keys       int
	}{
		{"root-threshold", "root-key", cfg.RootThreshold, len(rootFiles)},
		{"threshold", "release-key", cfg.Threshold, len(releaseFiles)},
		{"channel-threshold", "channel-key", cfg.ChannelThreshold, len(channelFiles)},
	} {
		if t.keys > 0 && (t.n < 1 || t.n > t.keys) {
			return usagef("--%s %d: want 1 to the number of --%s (%d)", t.flag, t.n, t.keyFlag, t.keys)
		}
	}
	if cfg.Expires, err = expiresFlag(fs); err != nil {
		return err
	}
	if cfg.RootKeys, err = loadPublicKeys(rootFiles); err != nil {
		return err
	}
	if cfg.ReleaseKeys, err = loadPublicKeys(releaseFiles); err != nil {
		return err
	}
	if cfg.ChannelKeys, err = loadPublicKeys(channelFiles); err != nil {
		return err
	}
	if len(channelFiles) == 0 {
		cfg.ChannelThreshold = 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Keys, err = c.loadKeys(ctx, signFiles, passFile); err != nil {
		return err
	}
	res, err := repotool.Init(ctx, cfg)
	if err != nil {
		return err
	}
	if len(channelFiles) == 0 {
		fmt.Fprintln(c.stderr, "note: no --channel-key: the release keys also sign channel files (the timestamp role)")
	}
	c.printRoot(res, cfg.Repo)
	return nil
}

var signRootCommand = &command{
	name:    "sign-root",
	summary: "add a signature to the pending root draft",
	usage:   "sign-root --repo DIR --key KEY [--key KEY]...",
	about: `Signs DIR/N.root.json.draft, the root that 'repotool init' or 'repotool rotate'
left waiting for signatures, with each --key, then says which signatures are
still missing. Once a threshold of the previous root's root keys and of the new
root's have signed, the root is written as DIR/N.root.json and DIR/root.json and
the draft is removed. Each signer can run it in turn on their own machine.`,
	example: `  repotool sign-root --repo repo --key keys/root2.key`,
	flags: func(fs *pflag.FlagSet) {
		fs.String("repo", "", "repository `DIR` or bucket URL (required)")
		fs.StringArray("key", nil, "a root `KEY`: a private key file or a KMS key URI (required, repeatable)")
		fs.String("passphrase-file", "", "read the passphrase of encrypted keys from `FILE`")
		fs.String("pin", "", "the publisher's pin `DIR`, the local trust the repository is checked against (default: one per repository in the user's config directory)")
		fs.Bool("dry-run", false, "show what the draft changes and who must sign; sign and write nothing")
		fs.Bool("json", false, "print the result as JSON")
	},
	run: runSignRoot,
}

func runSignRoot(c *cli, args []string) error {
	fs, err := c.parseNoArgs(args, "repo")
	if err != nil {
		return err
	}
	var cfg repotool.SignRootConfig
	cfg.Repo, _ = fs.GetString("repo")
	if cfg.Pin, err = pinFlag(fs, cfg.Repo); err != nil {
		return err
	}
	cfg.DryRun, _ = fs.GetBool("dry-run")
	asJSON, _ := fs.GetBool("json")
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
	res, err := repotool.SignRoot(ctx, cfg)
	if err != nil {
		return err
	}
	if asJSON {
		return c.printRootJSON(res)
	}
	c.printRoot(res, cfg.Repo)
	return nil
}

// pinFlag is --pin, or the repository's default pin directory.
func pinFlag(fs *pflag.FlagSet, repo string) (string, error) {
	if p, _ := fs.GetString("pin"); p != "" {
		return p, nil
	}
	p, err := repotool.DefaultPin(repo)
	if err != nil {
		return "", usagef("%s; give --pin DIR", strings.TrimPrefix(err.Error(), "repotool: "))
	}
	return p, nil
}

// printRootJSON prints what Init, Rotate or SignRoot did, or would do, as
// one JSON object.
func (c *cli) printRootJSON(res *repotool.RootResult) error {
	out := struct {
		Version  int64         `json:"version"`
		Expires  time.Time     `json:"expires"`
		Path     string        `json:"path"`
		Complete bool          `json:"complete"`
		DryRun   bool          `json:"dry_run"`
		Changes  []string      `json:"changes"`
		Added    []string      `json:"signed_now"`
		Already  []string      `json:"signed_before"`
		Missing  trust.Missing `json:"missing"`
	}{res.Version, res.Expires, res.Path, res.Complete, res.DryRun, orEmpty(res.Changes), orEmpty(res.Added), orEmpty(res.Already), res.Missing}
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// printRoot reports what Init, Rotate or SignRoot did and, for a draft,
// which signatures are still missing.
func (c *cli) printRoot(res *repotool.RootResult, repo string) {
	v := res.Version
	for _, ch := range res.Changes {
		fmt.Fprintf(c.stdout, "root version %d: %s\n", v, ch)
	}
	if res.DryRun {
		needs := func(n trust.Need, whose string) {
			if n.Signatures > 0 {
				fmt.Fprintf(c.stdout, "root version %d needs %d %s from %s: %s\n", v, n.Signatures,
					plural(n.Signatures, "signature", "signatures"), whose, strings.Join(n.Unsigned, ", "))
			}
		}
		needs(res.Missing.Previous, "the previous root keys")
		needs(res.Missing.Next, "the new root keys")
		fmt.Fprintf(c.stdout, "dry run: nothing was signed or written\n")
		return
	}
	for _, id := range res.Already {
		fmt.Fprintf(c.stdout, "root version %d is already signed by %s\n", v, id)
	}
	for _, id := range res.Added {
		fmt.Fprintf(c.stdout, "signed root version %d by %s\n", v, id)
	}
	if res.Complete {
		fmt.Fprintf(c.stdout, "wrote root version %d to %s and %s (expires %s)\n", v, res.Path,
			res.Path[:strings.LastIndexAny(res.Path, `/\`)+1]+"root.json", res.Expires.Format(time.RFC3339))
		return
	}
	needs := func(n trust.Need, whose string) {
		if n.Signatures > 0 {
			fmt.Fprintf(c.stdout, "root version %d needs %d more %s from %s: %s\n", v, n.Signatures,
				plural(n.Signatures, "signature", "signatures"), whose, strings.Join(n.Unsigned, ", "))
		}
	}
	if v == 1 {
		needs(res.Missing.Next, "the root keys")
	} else {
		needs(res.Missing.Previous, "the previous root keys")
		needs(res.Missing.Next, "the new root keys")
	}
	fmt.Fprintf(c.stdout, "wrote the draft %s; add signatures with 'repotool sign-root --repo %s --key KEY'\n", res.Path, repo)
}

// expiresFlag turns --expires into a time, refusing a duration that is
// not positive.
func expiresFlag(fs *pflag.FlagSet) (time.Time, error) {
	d, _ := fs.GetDuration("expires")
	if d <= 0 {
		return time.Time{}, usagef("--expires %s: want a positive duration such as 8760h", d)
	}
	return time.Now().Add(d), nil
}

func loadPublicKeys(files []string) ([]crypto.PublicKey, error) {
	var pubs []crypto.PublicKey
	for _, f := range files {
		pub, err := repotool.LoadPublicKey(f)
		if err != nil {
			return nil, err
		}
		pubs = append(pubs, pub)
	}
	return pubs, nil
}

var hexID = regexp.MustCompile(`^[0-9a-fA-F]{8,64}$`)

// keyIDs turns each of refs, a key id (or a prefix of one) or a public key
// file, into a key id or prefix.
func keyIDs(refs []string) ([]string, error) {
	var ids []string
	for _, ref := range refs {
		if hexID.MatchString(ref) {
			ids = append(ids, strings.ToLower(ref))
			continue
		}
		pub, err := repotool.LoadPublicKey(ref)
		if err != nil {
			return nil, err
		}
		id, err := keys.ID(pub)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
