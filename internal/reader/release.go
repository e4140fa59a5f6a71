package reader

import (
	"context"
	"errors"
	"fmt"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/trust"
)

// ErrSignature means release.json (or a channel, or a root) is unsigned,
// or fewer than the threshold of trusted keys signed it (an unknown key
// counts as none).
var ErrSignature = errors.New("signature not trusted")

// Release fetches the release.json of version for goos/goarch from src and
// returns the release only once it is verified (VerifyRelease), with the
// ids of the keys whose signatures count. Nothing of an unverified release
// is handed out.
func Release(ctx context.Context, p *Params, src Source, tk trust.Verifier, version, goos, goarch string) (*release.Release, []string, error) {
	path, err := release.Path(version, goos, goarch)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMetadata, err)
	}
	data, err := Metadata(ctx, p, src, path, limits.ReleaseJSON)
	if err != nil {
		return nil, nil, err
	}
	return VerifyRelease(data, tk, version, goos, goarch)
}

// VerifyRelease is the one check of a release.json, data, that clients and
// repotool make: it parses strictly, verifies that at least the threshold
// of tk signed it, that it is the release of version for goos/goarch (so
// a validly signed release cannot be served under another path), and that
// its payload is one Payload accepts (NAME.bz2 or NAME.zst), in that order.
// Errors wrap ErrSignature, ErrMetadata or ErrTooLarge.
func VerifyRelease(data []byte, tk trust.Verifier, version, goos, goarch string) (*release.Release, []string, error) {
	r, err := release.Parse(data)
	if err != nil {
		return nil, nil, MetadataError(err)
	}
	ids, err := r.Verify(tk)
	if err != nil {
		if errors.Is(err, release.ErrMalformed) {
			return nil, nil, fmt.Errorf("%w: %w", ErrMetadata, err)
		}
		return nil, nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	if err := r.Expect(version, goos, goarch); err != nil {
		return nil, nil, MetadataError(err)
	}
	if err := CheckPayloadName(r.Binary); err != nil {
		return nil, nil, err
	}
	return r, ids, nil
}

// MetadataError maps an error of package release or trust to one of the
// sentinels of this package.
func MetadataError(err error) error {
	switch {
	case errors.Is(err, release.ErrTooLarge):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	case errors.Is(err, release.ErrUnsigned), errors.Is(err, trust.ErrThreshold):
		return fmt.Errorf("%w: %w", ErrSignature, err)
	}
	return fmt.Errorf("%w: %w", ErrMetadata, err) // release.ErrMalformed, release.ErrMismatch
}
