package repotool

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/trust"
)

// RotateConfig configures Rotate. Every field but Repo and Keys is a
// change; what is not changed is kept from the current root.
type RotateConfig struct {
	// Repo is the repository, a directory or a file://, s3://, gs:// or
	// azblob:// URL; it must have a root.json.
	Repo string
	// Keys to add to the root, release (targets) and channel (timestamp and
	// snapshot) roles.
	AddRootKeys, AddReleaseKeys, AddChannelKeys []crypto.PublicKey
	// Keys to remove, by key id or a prefix of at least 8 hex digits that
	// names exactly one key of the role.
	RemoveRootKeys, RemoveReleaseKeys, RemoveChannelKeys []string
	// New thresholds of the root, release and channel roles; 0 keeps the
	// current one.
	RootThreshold, Threshold, ChannelThreshold int
	// Expires is the new root's expiry; zero keeps the current one. Either
	// way it must be in the future.
	Expires time.Time
	// Keys sign the new root: root keys of the current root, of the new
	// one, or both.
	Keys []crypto.Signer
	// Pin is the publisher's pin directory (see ErrPin): the current root
	// is reached from the root pinned there, never taken from the
	// repository alone, and the new root is recorded there. Required.
	Pin string
	// DryRun checks everything and reports what would be signed (Changes,
	// Missing) without signing or writing anything.
	DryRun bool
}

var keyIDPrefix = regexp.MustCompile(`^[0-9a-f]{8,64}$`)

// Rotate writes the successor of the repository's current root (root.json,
// or a newer N.root.json beside it) with the changes in cfg. A client
// accepts root N+1 only when it is signed by a threshold of root N's root
// keys AND of its own, so when a root key changes both old and new keys
// must sign.
//
// Rotate refuses, before writing anything: a repository without a root
// (ErrNoRoot) or with a pending draft (ErrDraftPending); removing a key
// the role does not have; adding one it has; a role left without keys or
// with a threshold above its number of keys; a change that changes
// nothing; a signing key that is a root key of neither root
// (ErrNotInRole).
//
// When the signatures of cfg.Keys are enough, the new root is verified as
// the successor of the current one (trust.Root.Update) and written as
// N+1.root.json, then root.json; otherwise it is written as the draft
// N+1.root.json.draft and the result says which root keys must still sign
// it with SignRoot.
//
// Removing a release key revokes it for clients that reach the new root:
// they refuse releases that only it signed, so re-sign those first.
func Rotate(ctx context.Context, cfg RotateConfig) (*RootResult, error) {
	const op = "rotate"
	if cfg.Repo == "" {
		return nil, errors.New("repotool: rotate: no repository directory given")
	}
	if len(cfg.Keys) == 0 {
		return nil, errors.New("repotool: rotate: no key to sign the root with")
	}
	p, err := loadPin(op, cfg.Pin)
	if err != nil {
		return nil, err
	}
	s, err := openStore(ctx, cfg.Repo, true, false, nil)
	if err != nil {
		return nil, fmt.Errorf("repotool: rotate: %w", err)
	}
	defer s.Close()
	prev, err := pinnedRoot(ctx, s, op, p)
	if err != nil {
		return nil, err
	}
	if err := noDraft(ctx, s, op); err != nil {
		return nil, err
	}
	d := trust.NextRoot(prev)
	for _, role := range []struct {
		what      string
		rk        *trust.RoleKeys
		add       []crypto.PublicKey
		remove    []string
		threshold int
	}{
		{"root", &d.Root, cfg.AddRootKeys, cfg.RemoveRootKeys, cfg.RootThreshold},
		{"release", &d.Targets, cfg.AddReleaseKeys, cfg.RemoveReleaseKeys, cfg.Threshold},
		{"channel", &d.Timestamp, cfg.AddChannelKeys, cfg.RemoveChannelKeys, cfg.ChannelThreshold},
	} {
		rk, err := editRole(role.what, *role.rk, role.add, role.remove, role.threshold)
		if err != nil {
			return nil, fmt.Errorf("repotool: rotate: %w", err)
		}
		*role.rk = rk
	}
	if !cfg.Expires.IsZero() {
		d.Expires = cfg.Expires.UTC().Truncate(time.Second)
	}
	changes := rootChanges(prev, d)
	if err := checkExpires(d.Expires); err != nil {
		return nil, fmt.Errorf("repotool: rotate: root version %d: %w; give a new expiry", d.Version, err)
	}
	if len(changes) == 0 {
		return nil, errors.New("repotool: rotate: nothing to change: give keys to add or remove, a threshold or a new expiry")
	}
	if cfg.DryRun {
		return dryRun(op, prev, d, cfg.Keys, s, changes)
	}
	res, err := finishRoot(ctx, op, s, p, prev, d, cfg.Keys, "")
	if err != nil {
		return nil, err
	}
	res.Changes = changes
	return res, nil
}

// editRole applies removals, then additions, then a new threshold (0:
// unchanged) to one role (rootChanges describes the result).
func editRole(what string, rk trust.RoleKeys, add []crypto.PublicKey, remove []string, threshold int) (trust.RoleKeys, error) {
	ids := make([]string, len(rk.Keys))
	for i, pub := range rk.Keys {
		id, err := keys.ID(pub)
		if err != nil {
			return rk, fmt.Errorf("%s key: %s", what, trimPrefix(err))
		}
		ids[i] = id
	}
	out := trust.RoleKeys{Threshold: rk.Threshold}
	drop := make(map[string]bool)
	for _, r := range remove {
		id, err := matchID(what, ids, r)
		if err != nil {
			return rk, err
		}
		if drop[id] {
			return rk, fmt.Errorf("%s key %s is removed twice", what, id)
		}
		drop[id] = true
	}
	kept := make(map[string]bool)
	for i, pub := range rk.Keys {
		if !drop[ids[i]] {
			out.Keys = append(out.Keys, pub)
			kept[ids[i]] = true
		}
	}
	for _, pub := range add {
		id, err := keys.ID(pub)
		if err != nil {
			return rk, fmt.Errorf("%s key: %s", what, trimPrefix(err))
		}
		switch {
		case kept[id]:
			return rk, fmt.Errorf("key %s is already a %s key", id, what)
		case drop[id]:
			return rk, fmt.Errorf("key %s is both added and removed", id)
		}
		kept[id] = true
		out.Keys = append(out.Keys, pub)
	}
	if threshold != 0 {
		out.Threshold = threshold
	}
	if len(out.Keys) == 0 {
		return rk, fmt.Errorf("no %s keys would be left; add one before removing the last", what)
	}
	if err := checkRoleKeys(what, out); err != nil {
		if threshold == 0 && out.Threshold > len(out.Keys) {
			return rk, fmt.Errorf("%w; give a new %s threshold", err, what)
		}
		return rk, err
	}
	return out, nil
}

// matchID finds the one id in ids that is ref or starts with it.
func matchID(what string, ids []string, ref string) (string, error) {
	ref = strings.ToLower(ref)
	if !keyIDPrefix.MatchString(ref) {
		return "", fmt.Errorf("%q is not a key id (8 to 64 hex digits)", ref)
	}
	var found []string
	for _, id := range ids {
		if strings.HasPrefix(id, ref) {
			found = append(found, id)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no %s key %s in the current root", what, ref)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%s names %d %s keys; give more of the id", ref, len(found), what)
}
