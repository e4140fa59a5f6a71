package repotool

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"path"

	"github.com/safeupdate/safeupdate/blobrepo"
	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/trust"
)

// SignConfig configures Sign. At least one of Pin and Binary is required:
// they are what the release in storage is checked against.
type SignConfig struct {
	// Repo is the repository: a directory, or a file://, s3://, gs:// or
	// azblob:// URL.
	Repo              string
	Version, OS, Arch string // which release
	Keys              []crypto.Signer

	// Pin is the publisher's pin directory (see ErrPin). The repository's
	// current root is reached from the root pinned there, as a client
	// reaches it; without Binary, the release must already carry a valid
	// signature by a release key of that root.
	Pin string
	// Binary is the publisher's own copy of the release's binary (built
	// here, or received out of band): its sha256 and size must be those
	// release.json signs.
	Binary string
	// DryRun checks everything and reports what would be signed without
	// signing or writing anything.
	DryRun bool

	// beforeWrite, when not nil, runs just before release.json is written:
	// tests change it there, as another signer would.
	beforeWrite func()
}

// SignResult says what Sign did, and what it checked before signing: what
// a signer is shown.
type SignResult struct {
	// Release is the release as written (as read, for a dry run or when
	// nothing was added).
	Release *release.Release
	Dir     string // "<version>/<os>/<arch>"
	// Root is the version of the root, reached from SignConfig.Pin, that
	// the release was checked against; 0 without a pin.
	Root int64
	// Binary is SignConfig.Binary, whose sha256 and size are the
	// release's; "" without one.
	Binary string
	// Existing are the signatures release.json carried before this run,
	// one per key, as judged against Root.
	Existing []ExistingSignature
	// Outside are the ids of SignConfig.Keys that are not release keys of
	// Root: clients of that root do not count their signatures (until a
	// rotation adds the key).
	Outside []string
	Added   []string // ids of the keys that signed now (would sign, for a dry run)
	Already []string // ids of the keys whose valid signature was already there
	DryRun  bool
}

// ExistingSignature is one signature a release carried before Sign.
type ExistingSignature struct {
	KeyID  string
	Status SignatureStatus
}

// SignatureStatus is what an existing signature is worth against the
// pinned root.
type SignatureStatus string

const (
	// SignatureValid is a valid signature by a release key of the root.
	SignatureValid SignatureStatus = "valid"
	// SignatureNotReleaseKey is a signature by a key that is not a release
	// key of the root: clients of that root ignore it, valid or not.
	SignatureNotReleaseKey SignatureStatus = "not a release key"
	// SignatureUnchecked is a signature Sign could not judge: no pin.
	SignatureUnchecked SignatureStatus = "unchecked"
)

// Sign adds a signature by each of cfg.Keys to an existing release, leaving
// every other member and signature as it was, so that several holders of
// keys can sign one release in turn, each offline. A key that already
// holds a valid signature is skipped (listed in Already); when no key adds
// anything, release.json is not rewritten.
//
// Whoever can write to the storage can replace a release's release.json
// and payload with their own binary, hashes consistent, before a signer
// runs. So Sign first anchors the release in trust the signer holds
// locally, and refuses (ErrUnanchored) without one:
//   - cfg.Pin: the repository's current root is reached from the pinned
//     root exactly as a client reaches it (anything else is ErrPin), and,
//     unless cfg.Binary is given too, the release must already carry a
//     valid signature by a release (targets) key of that root. This trusts
//     the key that signed first: a signer meant to check independently,
//     with a threshold above one, gives cfg.Binary instead.
//   - cfg.Binary: the local binary's sha256 and size must be the ones
//     release.json signs. This is how the first signer of a release added
//     unsigned anchors it.
//
// With both, both hold, but no earlier signature is needed. With a pin,
// a signature by a release key of the root that does not verify is refused
// (ErrPin, naming the key): release.json was changed after that key
// signed. Signatures by other keys are reported (SignatureNotReleaseKey)
// and not refused: trust ignores them, a release may carry signatures for
// clients pinning other keys, and a release key to be added by a rotation
// signs before it; they never anchor anything. For the same reason a key
// of cfg.Keys that is not a release key of the root is reported (Outside),
// not refused.
//
// Sign also checks that release.json parses, names the release directory
// it is in (version, os, arch), and that the payload in the repository
// matches its compressed and uncompressed hashes and sizes: a signer
// endorses the bytes, not just the metadata. It fails with
// ErrPayloadMismatch otherwise. Root expiry is not checked. Sign does not
// write to the pin.
//
// release.json is replaced only if it is still the version that was read
// (if-match on every store), so of two signers at once neither loses the
// other's signature: the later one fails with ErrConflict, and running it
// again adds its signature to the other's.
func Sign(ctx context.Context, cfg SignConfig) (*SignResult, error) {
	const op = "sign"
	if cfg.Repo == "" {
		return nil, errors.New("repotool: sign: no repository directory given")
	}
	if len(cfg.Keys) == 0 {
		return nil, errors.New("repotool: sign: no key given")
	}
	relPath, err := release.Path(cfg.Version, cfg.OS, cfg.Arch)
	if err != nil {
		return nil, fmt.Errorf("repotool: sign: %s", trimPrefix(err))
	}
	relDir := path.Dir(relPath)
	if cfg.Pin == "" && cfg.Binary == "" {
		return nil, errorf(ErrUnanchored, "repotool: sign: nothing to check release %s against: give a pin directory (--pin DIR) holding a root you verified, or the binary you built (--binary FILE); otherwise whoever can write to the storage could have your key sign their binary", relDir)
	}
	var p *pin
	if cfg.Pin != "" {
		if p, err = loadPin(op, cfg.Pin); err != nil {
			return nil, err
		}
		if p.root == nil && cfg.Binary == "" {
			return nil, errorf(ErrUnanchored, "repotool: sign: no pinned root in %s to check release %s against: copy in a root.json you have verified (init writes it), or give the binary you built (--binary FILE)", cfg.Pin, relDir)
		}
	}
	var bin *localBinary
	if cfg.Binary != "" {
		if bin, err = readLocalBinary(ctx, cfg.Binary); err != nil {
			return nil, fmt.Errorf("repotool: sign: %w", err)
		}
	}
	s, err := openStore(ctx, cfg.Repo, true, false, nil)
	if err != nil {
		return nil, fmt.Errorf("repotool: sign: %w", err)
	}
	defer s.Close()
	var root *trust.Root
	if p != nil {
		if root, err = pinnedRoot(ctx, s, op, p); err != nil {
			return nil, err
		}
	}
	data, tok, err := s.readTokened(ctx, relPath, limits.ReleaseJSON)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, errorf(ErrNotFound, "repotool: sign: no release %s in %s", relDir, s.name)
		}
		return nil, fmt.Errorf("repotool: sign: %w", err)
	}
	r, err := release.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("repotool: sign: %s: %s", relPath, trimPrefix(err))
	}
	if err := r.Expect(cfg.Version, cfg.OS, cfg.Arch); err != nil {
		return nil, fmt.Errorf("repotool: sign: %s: %s", relPath, trimPrefix(err))
	}
	res := &SignResult{Release: r, Dir: relDir, DryRun: cfg.DryRun}
	if err := res.anchor(r, root, bin, s.name, cfg.Pin); err != nil {
		return nil, err
	}
	if err := checkPayload(ctx, s.rd, r); err != nil {
		if ctx.Err() != nil || unreachable(err) {
			return nil, fmt.Errorf("repotool: sign: %w", err)
		}
		return nil, errorf(ErrPayloadMismatch, "repotool: sign: refusing to sign %s: %v", relDir, err)
	}
	if root != nil {
		res.Outside = outsideRole(cfg.Keys, root.Targets())
		// A signer endorses the patches too: each must make this binary
		// from its base release, verified against the same root.
		if err := checkPatches(ctx, s.rd, root.Targets(), r); err != nil {
			if ctx.Err() != nil || unreachable(err) {
				return nil, fmt.Errorf("repotool: sign: %w", err)
			}
			return nil, errorf(ErrPayloadMismatch, "repotool: sign: refusing to sign %s: %v", relDir, err)
		}
	}
	if cfg.DryRun {
		return res, res.wouldSign(cfg.Keys)
	}
	if err := res.sign(cfg.Keys); err != nil {
		return nil, err
	}
	if len(res.Added) == 0 {
		return res, nil
	}
	out, err := r.Marshal()
	if err != nil {
		return nil, fmt.Errorf("repotool: sign: %s", trimPrefix(err))
	}
	if cfg.beforeWrite != nil {
		cfg.beforeWrite()
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("repotool: sign: %w", err)
	}
	if err := s.put(ctx, relPath, bytes.NewReader(out), blobrepo.PutOptions{IfMatch: tok}); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, errorf(ErrConflict, "repotool: sign: release %s in %s changed while it was being signed (another signer?); nothing was written, run sign again", relDir, s.name)
		}
		return nil, fmt.Errorf("repotool: sign: %w", err)
	}
	return res, nil
}

// sign adds a signature by each of ks to res.Release.
func (res *SignResult) sign(ks []crypto.Signer) error {
	for _, k := range ks {
		signer, err := keys.NewSigner(k)
		if err != nil {
			return fmt.Errorf("repotool: sign: %w", trimmed(err))
		}
		id, err := keys.ID(k.Public())
		if err != nil {
			return fmt.Errorf("repotool: sign: %w", trimmed(err))
		}
		added, err := res.Release.Sign(signer)
		if err != nil {
			return fmt.Errorf("repotool: sign: %w", trimmed(err))
		}
		if added {
			res.Added = append(res.Added, id)
		} else {
			res.Already = append(res.Already, id)
		}
	}
	return nil
}

// wouldSign fills in Added and Already as sign would, without signing.
func (res *SignResult) wouldSign(ks []crypto.Signer) error {
	for _, k := range ks {
		id, err := keys.ID(k.Public())
		if err != nil {
			return fmt.Errorf("repotool: sign: %s", trimPrefix(err))
		}
		signed, err := res.Release.SignedBy(k.Public())
		if err != nil {
			return fmt.Errorf("repotool: sign: %s", trimPrefix(err))
		}
		if signed {
			res.Already = append(res.Already, id)
		} else {
			res.Added = append(res.Added, id)
		}
	}
	return nil
}
