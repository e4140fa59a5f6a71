package apply

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/safeupdate/safeupdate/internal/reader"
	"github.com/safeupdate/safeupdate/trust"
)

var (
	// ErrExpired means the trust root or the channel has expired: a
	// repository is serving stale signed metadata (the freeze attack), or
	// its publisher has not re-signed it in time. It also wraps
	// trust.ErrExpired or channel.ErrExpired.
	ErrExpired = reader.ErrExpired
	// ErrReplay means a channel is older than one this client has already
	// seen (recorded in the TrustStore): a replay of an older signed state.
	// It also wraps channel.ErrReplay.
	ErrReplay = reader.ErrReplay
)

// resolveTrust, in trust-root mode, brings the root up to date, makes its
// targets keys the release trust, and resolves a Channel to a version. It
// does nothing when keys are pinned.
func resolveTrust(ctx context.Context, c *config, src Source) error {
	if c.root == nil {
		return nil
	}
	root, err := updateRoot(ctx, c, src)
	if err != nil {
		return err
	}
	c.trust = root.Targets()
	if c.channel == "" {
		return nil
	}
	v, err := resolveChannel(ctx, c, src, root)
	if err != nil {
		return err
	}
	c.version = v
	return nil
}

// updateRoot starts from the newer of the pinned and the stored root,
// walks the repository's successors (TUF section 5.3), persists the newest
// verified root, and only then checks its expiry, so that an expired or
// failed walk never undoes the rotations already verified.
func updateRoot(ctx context.Context, c *config, src Source) (*trust.Root, error) {
	st := store{dir: c.store}
	root := c.root
	stored := st.loadRoot(c.logger)
	if stored != nil && stored.Version() > root.Version() {
		c.logger.Debug("apply: using the stored trust root", "version", stored.Version(), "pinned", root.Version())
		root = stored
	}
	root, walkErr := walkRoots(ctx, c, src, root)
	if stored == nil || !bytes.Equal(stored.Bytes(), root.Bytes()) {
		if err := st.saveRoot(root); err != nil {
			if walkErr != nil {
				c.logger.Warn("apply: could not keep the verified trust root", "version", root.Version(), "err", err)
				return nil, walkErr
			}
			return nil, err
		}
	}
	if walkErr != nil {
		return nil, walkErr
	}
	if err := root.CheckExpiry(time.Now()); err != nil {
		return nil, fmt.Errorf("%w: %w (the repository must publish a newer root)", ErrExpired, err)
	}
	return root, nil
}

// walkRoots accepts N+1.root.json, N+2.root.json, ... until the repository
// has no next one (trust.Walk). It returns the newest root it verified,
// also with an error. More than limits.Rotations successors in one call is
// ErrTooLarge; the next call goes on from the newest root, once it is
// persisted.
//
// A missing successor ends the walk, and so does a refusal to read it
// (HTTP 403, a bucket's permission denied): S3 answers 403 for a missing
// key to a reader without list permission. This holds for that probe
// only; everywhere else ErrForbidden is an error. A repository that
// refuses a successor can as well answer 404 for it, so the client trusts
// nothing it would not trust after a 404.
func walkRoots(ctx context.Context, c *config, src Source, root *trust.Root) (*trust.Root, error) {
	fetch := reader.RootFetch(c.params(), src) // a 403 for the next root ends the walk, like a 404
	root, err := trust.Walk(ctx, root, fetch, func(next *trust.Root, _ []byte) {
		c.logger.Info("apply: trust root rotated", "version", next.Version(), "expires", next.Expires())
	})
	var re *trust.RotationError
	switch {
	case errors.As(err, &re):
		return root, rootError(trust.RootFileName(re.Version), re.Err)
	case errors.Is(err, trust.ErrTooManyRotations):
		return root, fmt.Errorf("%w: %w; the next update goes on from it", ErrTooLarge, err)
	}
	return root, err
}

// rootError maps an error of Root.Update to this package's sentinels: a
// root that is not the next version, or not signed by enough keys, is an
// untrusted rotation.
func rootError(path string, err error) error {
	if errors.Is(err, trust.ErrThreshold) || errors.Is(err, trust.ErrRootVersion) {
		return fmt.Errorf("%w: rotation refused: %s: %w", ErrSignature, path, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrMetadata, path, err) // trust.ErrMalformedRoot
}
