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
)

// SignConfig configures Sign.
type SignConfig struct {
	// Repo is the repository: a directory, or a file://, s3://, gs:// or
	// azblob:// URL.
	Repo              string
	Version, OS, Arch string // which release
	Keys              []crypto.Signer

	// beforeWrite, when not nil, runs just before release.json is written:
	// tests change it there, as another signer would.
	beforeWrite func()
}

// SignResult says what Sign did.
type SignResult struct {
	Release *release.Release
	Added   []string // ids of the keys that signed now
	Already []string // ids of the keys whose valid signature was already there
}

// Sign adds a signature by each of cfg.Keys to an existing release, leaving
// every other member and signature as it was, so that several holders of
// keys can sign one release in turn, each offline. A key that already
// holds a valid signature is skipped (listed in Already); when no key adds
// anything, release.json is not rewritten.
//
// Before signing, Sign checks that release.json parses, names the release
// directory it is in (version, os, arch), and that the payload in the
// repository matches its compressed and uncompressed hashes and sizes: a
// signer endorses the bytes, not just the metadata. It fails with
// ErrPayloadMismatch otherwise. It does not check existing signatures
// against any trust root; Verify does.
//
// release.json is replaced only if it is still the version that was read
// (if-match on every store), so of two signers at once neither loses the
// other's signature: the later one fails with ErrConflict, and running it
// again adds its signature to the other's.
func Sign(ctx context.Context, cfg SignConfig) (*SignResult, error) {
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
	s, err := openStore(ctx, cfg.Repo, true, false, nil)
	if err != nil {
		return nil, fmt.Errorf("repotool: sign: %w", err)
	}
	defer s.Close()
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
	if err := checkPayload(ctx, s.rd, r); err != nil {
		if ctx.Err() != nil || unreachable(err) {
			return nil, fmt.Errorf("repotool: sign: %w", err)
		}
		return nil, errorf(ErrPayloadMismatch, "repotool: sign: refusing to sign %s: %v", relDir, err)
	}

	res := &SignResult{Release: r}
	for _, k := range cfg.Keys {
		signer, err := keys.NewSigner(k)
		if err != nil {
			return nil, fmt.Errorf("repotool: sign: %s", trimPrefix(err))
		}
		id, err := keys.ID(k.Public())
		if err != nil {
			return nil, fmt.Errorf("repotool: sign: %s", trimPrefix(err))
		}
		added, err := r.Sign(signer)
		if err != nil {
			return nil, fmt.Errorf("repotool: sign: %s", trimPrefix(err))
		}
		if added {
			res.Added = append(res.Added, id)
		} else {
			res.Already = append(res.Already, id)
		}
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
