package repotool

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
)

// SignConfig configures Sign.
type SignConfig struct {
	Repo              string // repository directory
	Version, OS, Arch string // which release
	Keys              []crypto.Signer
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
// directory it is in (version, os, arch), and that the payload on disk
// matches its compressed and uncompressed hashes and sizes: a signer
// endorses the bytes, not just the metadata. It fails with
// ErrPayloadMismatch otherwise. It does not check existing signatures
// against any trust root; Verify does. release.json is replaced
// atomically.
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
	relDir := filepath.ToSlash(filepath.Dir(filepath.FromSlash(relPath)))
	rd, err := newRepoReader(cfg.Repo, nil)
	if err != nil {
		return nil, fmt.Errorf("repotool: sign: %w", err)
	}
	if _, ok := rd.(dirReader); !ok {
		return nil, fmt.Errorf("repotool: sign: %s is not a directory; sign works on a local copy of the repository", cfg.Repo)
	}
	data, err := readRepoFile(ctx, rd, relPath, limits.ReleaseJSON)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, errorf(ErrNotFound, "repotool: sign: no release %s in %s", relDir, cfg.Repo)
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
	if err := checkPayload(ctx, rd, r); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("repotool: sign: %w", err)
		}
		return nil, errorf(ErrPayloadMismatch, "repotool: sign: refusing to sign %s: %v", relDir, err)
	}

	res := &SignResult{Release: r}
	for _, k := range cfg.Keys {
		s, err := keys.NewSigner(k)
		if err != nil {
			return nil, fmt.Errorf("repotool: sign: %s", trimPrefix(err))
		}
		id, err := keys.ID(k.Public())
		if err != nil {
			return nil, fmt.Errorf("repotool: sign: %s", trimPrefix(err))
		}
		added, err := r.Sign(s)
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
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("repotool: sign: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(cfg.Repo, filepath.FromSlash(relPath)), out, 0o644); err != nil {
		return nil, fmt.Errorf("repotool: sign: %w", err)
	}
	return res, nil
}

// readRepoFile reads a whole file of rd, failing if it holds more than
// limit bytes.
func readRepoFile(ctx context.Context, rd repoReader, name string, limit int64) ([]byte, error) {
	f, err := rd.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, limit)
	}
	return data, nil
}
