package repotool

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/trust"
)

var (
	// ErrNoRoot is returned by Rotate, SignRoot and Promote when the
	// repository has no root.json: Init makes one.
	ErrNoRoot = errors.New("repotool: no trust root")
	// ErrDraftPending is returned by Init and Rotate when a root draft
	// (N.root.json.draft) is waiting for signatures: finish it with
	// SignRoot, or delete it to start over.
	ErrDraftPending = errors.New("repotool: a root draft is pending")
	// ErrNotInRole is returned when a key given to sign is not in the role
	// that signs the document: a root key for roots, a channel (timestamp)
	// key for channels. Its signature would count for nothing.
	ErrNotInRole = errors.New("repotool: key is not in the role")
)

// rootFile is the repository's current root, a copy of the newest
// N.root.json.
const rootFile = "root.json"

// draftSuffix marks a root that still needs signatures: N.root.json.draft.
const draftSuffix = ".draft"

// RootResult says what Init, Rotate or SignRoot did.
type RootResult struct {
	Version int64     // the root version written
	Expires time.Time // its expiry (UTC, whole seconds)
	// Path is the file written: Repo/N.root.json when Complete, else the
	// draft Repo/N.root.json.draft (for a bucket, the object's URL).
	Path string
	// Complete reports that the root has every signature it needs and was
	// written as N.root.json and root.json; the draft, if any, is gone.
	Complete bool
	Added    []string      // ids of the keys that signed now
	Already  []string      // ids of the keys whose valid signature was already there
	Missing  trust.Missing // what is still needed; zero when Complete
	// Changes describes, one line each, how the root differs from the
	// current one, verified from the pin (Rotate and SignRoot).
	Changes []string
	// DryRun reports that nothing was signed or written: Missing is what
	// the root needs without the signatures of this run's keys.
	DryRun bool
}

// InitConfig configures Init.
type InitConfig struct {
	// Repo is the repository: a directory (created if missing) or a
	// file://, s3://, gs:// or azblob:// URL.
	Repo string
	// RootKeys sign root rotations; RootThreshold of them (0 means 1) must
	// sign each root. Required.
	RootKeys      []crypto.PublicKey
	RootThreshold int
	// ReleaseKeys sign releases (the targets role); Threshold of them (0
	// means 1) must sign each release. Required.
	ReleaseKeys []crypto.PublicKey
	Threshold   int
	// ChannelKeys sign channel files (the timestamp and snapshot roles);
	// ChannelThreshold of them (0 means 1) must sign each. None means the
	// release keys, with Threshold, sign channels too.
	ChannelKeys      []crypto.PublicKey
	ChannelThreshold int
	// Expires is when the root expires. Required, in the future.
	Expires time.Time
	// Keys sign the new root; each must be one of RootKeys.
	Keys []crypto.Signer
	// Pin is the publisher's pin directory (see ErrPin), created if
	// missing; once root version 1 is complete it is recorded there, and
	// later commands check the repository against it. Required; it must
	// not hold a root yet.
	Pin string
}

// Init writes the first trust root of a repository, version 1, with the
// keys and thresholds of cfg. It refuses (ErrExists) a repository that
// already has a root.json, a 1.root.json or a draft, and a signing key
// that is not one of cfg.RootKeys (ErrNotInRole), before writing anything.
//
// When the keys in cfg.Keys meet RootThreshold the root is written as
// Repo/1.root.json, then Repo/root.json (identical bytes), each atomically;
// it is verified with trust.NewRoot first. Otherwise it is written as the
// draft Repo/1.root.json.draft and the result says which root keys must
// still sign it with SignRoot, so that holders of offline keys can sign one
// at a time.
func Init(ctx context.Context, cfg InitConfig) (*RootResult, error) {
	const op = "init"
	if cfg.Repo == "" {
		return nil, errors.New("repotool: init: no repository directory given")
	}
	if len(cfg.Keys) == 0 {
		return nil, errors.New("repotool: init: no key to sign the root with")
	}
	root := trust.RoleKeys{Keys: cfg.RootKeys, Threshold: orOne(cfg.RootThreshold)}
	targets := trust.RoleKeys{Keys: cfg.ReleaseKeys, Threshold: orOne(cfg.Threshold)}
	timestamp := targets
	if len(cfg.ChannelKeys) > 0 {
		timestamp = trust.RoleKeys{Keys: cfg.ChannelKeys, Threshold: orOne(cfg.ChannelThreshold)}
	} else if cfg.ChannelThreshold != 0 {
		return nil, errors.New("repotool: init: a channel threshold without channel keys")
	}
	for _, role := range []struct {
		what string
		rk   trust.RoleKeys
	}{{"root", root}, {"release", targets}, {"channel", timestamp}} {
		if err := checkRoleKeys(role.what, role.rk); err != nil {
			return nil, fmt.Errorf("repotool: init: %w", err)
		}
	}
	if err := checkExpires(cfg.Expires); err != nil {
		return nil, fmt.Errorf("repotool: init: %w", err)
	}
	if err := checkSigners(op, cfg.Keys, nil, root.Keys); err != nil {
		return nil, err
	}
	p, err := loadPin(op, cfg.Pin)
	if err != nil {
		return nil, err
	}
	s, err := openStore(ctx, cfg.Repo, true, true, nil)
	if err != nil {
		return nil, fmt.Errorf("repotool: init: %w", err)
	}
	defer s.Close()
	for _, name := range []string{rootFile, trust.RootFileName(1)} {
		if tok, err := s.token(ctx, name); err != nil {
			return nil, fmt.Errorf("repotool: init: %w", err)
		} else if tok != "" {
			return nil, errorf(ErrExists, "repotool: init: %s already has a trust root (%s)", s.name, name)
		}
	}
	if err := noDraft(ctx, s, op); err != nil {
		return nil, err
	}
	if p.root != nil {
		return nil, errorf(ErrExists, "repotool: init: the pin %s already holds root version %d: use a new pin directory for a new repository", cfg.Pin, p.root.Version())
	}
	d := trust.NewRootDraft(root, targets, timestamp, cfg.Expires)
	return finishRoot(ctx, op, s, p, nil, d, cfg.Keys, "")
}

// SignRootConfig configures SignRoot.
type SignRootConfig struct {
	Repo string          // repository directory or bucket URL
	Keys []crypto.Signer // root keys to sign the pending draft with
	// Pin is the publisher's pin directory (see ErrPin): the draft of
	// version N+1 is checked against root N reached from it, and the
	// result's Changes say what the draft changes. Required.
	Pin string
	// DryRun checks everything and reports what would be signed (Changes,
	// Missing) without signing or writing anything.
	DryRun bool
}

// SignRoot adds a signature by each of cfg.Keys to the repository's one
// pending root draft (N.root.json.draft, written by Init or Rotate) and,
// once it has every signature it needs (a threshold of its own root keys
// and, from version 2, of the current root's), writes it as N.root.json
// and root.json and removes the draft. A key that already signed is
// skipped; a key that is neither a root key of the draft nor of the
// current root is refused (ErrNotInRole). It fails with ErrNotFound when
// there is no draft, and when there are several.
func SignRoot(ctx context.Context, cfg SignRootConfig) (*RootResult, error) {
	const op = "sign-root"
	if cfg.Repo == "" {
		return nil, errors.New("repotool: sign-root: no repository directory given")
	}
	if len(cfg.Keys) == 0 {
		return nil, errors.New("repotool: sign-root: no key given")
	}
	p, err := loadPin(op, cfg.Pin)
	if err != nil {
		return nil, err
	}
	s, err := openStore(ctx, cfg.Repo, true, false, nil)
	if err != nil {
		return nil, fmt.Errorf("repotool: sign-root: %w", err)
	}
	defer s.Close()
	drafts, err := findDrafts(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("repotool: sign-root: %w", err)
	}
	switch len(drafts) {
	case 0:
		return nil, errorf(ErrNotFound, "repotool: sign-root: no root draft (N.root.json%s) in %s", draftSuffix, s.name)
	case 1:
	default:
		return nil, fmt.Errorf("repotool: sign-root: %d root drafts in %s (%s); delete all but one", len(drafts), s.name, strings.Join(drafts, ", "))
	}
	data, draftTok, err := s.readTokened(ctx, drafts[0], limits.RootJSON)
	if err != nil {
		return nil, fmt.Errorf("repotool: sign-root: %s: %w", drafts[0], err)
	}
	d, err := trust.ParseRootDraft(data)
	if err != nil {
		return nil, fmt.Errorf("repotool: sign-root: %s: %s", drafts[0], trimPrefix(err))
	}
	if want := trust.RootFileName(d.Version) + draftSuffix; want != drafts[0] {
		return nil, fmt.Errorf("repotool: sign-root: %s holds root version %d", drafts[0], d.Version)
	}
	var prev *trust.Root
	if d.Version > 1 {
		if p.root == nil {
			return nil, errorf(ErrPin, "repotool: sign-root: no pinned root in %s to check root version %d against: copy in a root.json you have verified", cfg.Pin, d.Version)
		}
		if prev, err = pinnedRoot(ctx, s, op, p); err != nil {
			return nil, err
		}
		if prev.Version() != d.Version-1 {
			return nil, fmt.Errorf("repotool: sign-root: the draft is root version %d but the current root is version %d; delete %s", d.Version, prev.Version(), drafts[0])
		}
	} else if p.root != nil {
		return nil, errorf(ErrPin, "repotool: sign-root: the draft is root version 1 but the pin %s already holds root version %d", cfg.Pin, p.root.Version())
	} else if tok, err := s.token(ctx, rootFile); err != nil {
		return nil, fmt.Errorf("repotool: sign-root: %w", err)
	} else if tok != "" {
		return nil, errorf(ErrExists, "repotool: sign-root: the draft is root version 1 but %s already has a root.json; delete %s", s.name, drafts[0])
	}
	if err := checkExpires(d.Expires); err != nil {
		return nil, fmt.Errorf("repotool: sign-root: %s: %w; start over", drafts[0], err)
	}
	var changes []string
	if prev != nil {
		changes = rootChanges(prev, d)
	}
	if cfg.DryRun {
		return dryRun(op, prev, d, cfg.Keys, s, changes)
	}
	res, err := finishRoot(ctx, op, s, p, prev, d, cfg.Keys, draftTok)
	if err != nil {
		return nil, err
	}
	res.Changes = changes
	return res, nil
}

// dryRun reports what signing d with signers would do, signing a copy.
func dryRun(op string, prev *trust.Root, d *trust.RootDraft, signers []crypto.Signer, s *repoStore, changes []string) (*RootResult, error) {
	if err := checkSigners(op, signers, prev, d.Root.Keys); err != nil {
		return nil, err
	}
	res := &RootResult{Version: d.Version, Expires: d.Expires.UTC().Truncate(time.Second), Changes: changes, DryRun: true}
	res.Path = s.pathOf(trust.RootFileName(d.Version))
	out, err := d.Marshal()
	if err != nil {
		return nil, fmt.Errorf("repotool: %s: %s", op, trimPrefix(err))
	}
	m, err := trust.MissingSignatures(prev, out)
	if err != nil {
		return nil, fmt.Errorf("repotool: %s: %s", op, trimPrefix(err))
	}
	res.Missing = *m
	return res, nil
}

// finishRoot signs d with signers and writes it: complete as N.root.json
// and root.json, or as a draft. prev is the root d succeeds, nil for
// version 1; draftTok is the token of the draft that was read, "" if none.
// The draft is replaced only if unchanged since, and N.root.json is
// created only if absent, so of two concurrent rotations one fails.
func finishRoot(ctx context.Context, op string, s *repoStore, p *pin, prev *trust.Root, d *trust.RootDraft, signers []crypto.Signer, draftTok string) (*RootResult, error) {
	fail := func(err error) (*RootResult, error) {
		return nil, fmt.Errorf("repotool: %s: %w", op, trimmed(err))
	}
	if err := checkSigners(op, signers, prev, d.Root.Keys); err != nil {
		return nil, err
	}
	res := &RootResult{Version: d.Version, Expires: d.Expires.UTC().Truncate(time.Second)}
	for _, k := range signers {
		s, err := keys.NewSigner(k)
		if err != nil {
			return fail(err)
		}
		id, _ := keys.ID(k.Public())
		added, err := d.Sign(s)
		if err != nil {
			return fail(err)
		}
		if added {
			res.Added = append(res.Added, id)
		} else {
			res.Already = append(res.Already, id)
		}
	}
	out, err := d.Marshal()
	if err != nil {
		return fail(err)
	}
	m, err := trust.MissingSignatures(prev, out)
	if err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("repotool: %s: %w", op, err)
	}
	draft := trust.RootFileName(d.Version) + draftSuffix
	if !m.Complete() {
		res.Missing, res.Path = *m, s.pathOf(draft)
		if len(res.Added) == 0 && draftTok != "" {
			return res, nil
		}
		if err := s.put(ctx, draft, bytes.NewReader(out), ifUnchanged(draftTok)); err != nil {
			return nil, fmt.Errorf("repotool: %s: %w", op, err)
		}
		return res, nil
	}
	// Refuse rather than publish a root a client would refuse.
	var verified *trust.Root
	if prev == nil {
		verified, err = trust.NewRoot(out)
	} else {
		verified, err = prev.Update(out)
	}
	if err != nil {
		return nil, fmt.Errorf("repotool: %s: refusing to write root version %d: %s", op, d.Version, trimPrefix(err))
	}
	final := trust.RootFileName(d.Version)
	// N.root.json first, create-only: of two rotations at once one
	// fails here. root.json last: an interruption in between leaves a
	// root.json one version behind, which currentRoot walks past.
	if err := s.put(ctx, final, bytes.NewReader(out), ifUnchanged("")); err != nil {
		if errors.Is(err, ErrExists) {
			return nil, errorf(ErrExists, "repotool: %s: %s already exists", op, s.pathOf(final))
		}
		return nil, fmt.Errorf("repotool: %s: %w", op, err)
	}
	tok, err := s.token(ctx, rootFile)
	if err == nil {
		err = s.put(ctx, rootFile, bytes.NewReader(out), ifUnchanged(tok))
	}
	if err != nil {
		return nil, fmt.Errorf("repotool: %s: %w", op, err)
	}
	if err := p.saveRoot(ctx, verified); err != nil {
		return nil, fmt.Errorf("repotool: %s: root version %d is written, but could not be recorded in the pin %s (copy %s there as root.json): %w", op, d.Version, p.dir, s.pathOf(final), err)
	}
	if err := s.remove(ctx, draft); err != nil {
		return nil, fmt.Errorf("repotool: %s: root version %d is written, but its draft could not be removed: %w", op, d.Version, err)
	}
	res.Complete, res.Path = true, s.pathOf(final)
	return res, nil
}

// checkSigners fails with ErrNotInRole unless each of signers is a root
// key of prev (nil for version 1) or one of next, the new root's keys.
func checkSigners(op string, signers []crypto.Signer, prev *trust.Root, next []crypto.PublicKey) error {
	allowed := make(map[string]bool)
	for _, pub := range next {
		id, err := keys.ID(pub)
		if err != nil {
			return fmt.Errorf("repotool: %s: %s", op, trimPrefix(err))
		}
		allowed[id] = true
	}
	what := "a root key of the new root"
	if prev != nil {
		for _, id := range prev.RootKeys().IDs() {
			allowed[id] = true
		}
		what = fmt.Sprintf("a root key of version %d or %d", prev.Version(), prev.Version()+1)
	}
	for _, k := range signers {
		id, err := keys.ID(k.Public())
		if err != nil {
			return fmt.Errorf("repotool: %s: %s", op, trimPrefix(err))
		}
		if !allowed[id] {
			return errorf(ErrNotInRole, "repotool: %s: key %s is not %s; its signature would not count", op, id, what)
		}
	}
	return nil
}

// findDrafts lists the N.root.json.draft files of s, sorted.
func findDrafts(ctx context.Context, s *repoStore) ([]string, error) {
	l, ok := s.rd.(lister)
	if !ok {
		return nil, fmt.Errorf("%s cannot be listed", s.name)
	}
	names, err := l.topFiles(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, name := range names {
		if v, ok := strings.CutSuffix(name, ".root.json"+draftSuffix); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// noDraft fails with ErrDraftPending when s holds a root draft.
func noDraft(ctx context.Context, s *repoStore, op string) error {
	drafts, err := findDrafts(ctx, s)
	if err != nil {
		return fmt.Errorf("repotool: %s: %w", op, err)
	}
	if len(drafts) > 0 {
		return errorf(ErrDraftPending, "repotool: %s: %s in %s is waiting for signatures", op, drafts[0], s.name)
	}
	return nil
}

// checkRoleKeys checks one role's keys and threshold, in the words of the
// publisher ("release keys") rather than of TUF ("targets").
func checkRoleKeys(what string, rk trust.RoleKeys) error {
	if len(rk.Keys) == 0 {
		return fmt.Errorf("no %s keys", what)
	}
	if len(rk.Keys) > limits.Signatures {
		return fmt.Errorf("%d %s keys, the limit is %d", len(rk.Keys), what, limits.Signatures)
	}
	seen := make(map[string]bool)
	for _, pub := range rk.Keys {
		id, err := keys.ID(pub)
		if err != nil {
			return fmt.Errorf("%s key: %s", what, trimPrefix(err))
		}
		if seen[id] {
			return fmt.Errorf("%s key %s is given twice", what, id)
		}
		seen[id] = true
	}
	if rk.Threshold < 1 || rk.Threshold > len(rk.Keys) {
		return fmt.Errorf("%s threshold %d with %d %s %s (want 1 to %d)", what, rk.Threshold, len(rk.Keys), what, plural(len(rk.Keys), "key", "keys"), len(rk.Keys))
	}
	return nil
}

// checkExpires refuses an expiry that has passed or cannot be written.
func checkExpires(t time.Time) error {
	switch {
	case t.IsZero():
		return errors.New("no expiry given")
	case !time.Now().Before(t.Truncate(time.Second)):
		return fmt.Errorf("expiry %s is not in the future", t.UTC().Format(time.RFC3339))
	case t.UTC().Year() > 9999:
		return fmt.Errorf("expiry %v is out of range", t)
	}
	return nil
}

func orOne(n int) int {
	if n == 0 {
		return 1
	}
	return n
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
