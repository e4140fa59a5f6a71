package apply

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/reader"
	"github.com/safeupdate/safeupdate/release"
)

// Apply installs the release Version for OS/Arch from the repository over
// the target, as the package documentation describes, step by step. It
// requires a repository (SourceRepo or WithSource), Version, and trust
// (PublicKey, or AllowUnsignedUnsafe).
//
// When Version equals CurrentVersion, Apply verifies the release metadata
// and then returns nil without downloading or touching anything: the
// version is already installed.
//
// When Apply returns nil, the target holds the verified new binary and the
// backup the previous one. On error, the target holds the previous binary
// unless RollbackError(err) is non-nil.
//
// Once the metadata is verified, and before anything is downloaded, Apply
// takes an advisory lock beside the target (.NAME.safeupdate.lock, flock(2)
// or LockFileEx); removes what interrupted updates of the target left (only
// regular files of this user at the exact temporary names Apply makes,
// .NAME.safeupdate-XXXXXXXXXXXXXXXX.tmp, beside the target and the
// backup); and checks that the target's directory is writable and the
// target replaceable. It holds the lock until it returns: Apply and
// Rollback calls for one target, in any processes, run one after the
// other. While another holds the lock, Apply waits until ctx is done, then
// fails with an error wrapping ErrBusy.
func Apply(ctx context.Context, opts ...Option) error {
	return prefixed(applyRelease(ctx, opts))
}

func applyRelease(ctx context.Context, opts []Option) error {
	c, err := newConfig(opts, needs{repo: true, target: true})
	if err != nil {
		return err
	}
	src, own, err := c.openSource()
	if err != nil {
		return err
	}
	if closer, ok := src.(interface{ CloseIdleConnections() }); ok && own {
		defer closer.CloseIdleConnections()
	}
	r, err := check(ctx, c, src)
	if err != nil {
		return err
	}
	if c.current != "" {
		if cmp, _ := release.CompareVersions(r.Version, c.current); cmp == 0 {
			c.logger.Info("apply: already at this version, nothing to do", "version", r.Version, "target", c.target)
			return nil
		}
	}
	p, err := prepare(ctx, c)
	if err != nil {
		return err
	}
	defer p.cleanup()
	if err := fetchNew(ctx, c, src, r, p); err != nil {
		return err
	}
	if err := install(ctx, c, p); err != nil {
		return err
	}
	c.logger.Info("apply: installed", "version", r.Version, "target", c.target, "backup", c.backup)
	return nil
}

// Check fetches and verifies the metadata of release Version for OS/Arch,
// exactly as Apply does, without downloading the payload or touching any
// file. The returned release has been verified against the pinned keys and
// matches the requested version and platform; with AllowUnsignedUnsafe
// nothing of it is authenticated. A release older than CurrentVersion is
// ErrDowngrade; the same version is returned without error. With Channel,
// a release the channel offers to a share of clients that leaves this one
// out is a *RolloutError wrapping ErrNotInRollout, which says the version
// and the share ("2.1.0 is rolling out; not this machine yet"); Apply
// then downloads nothing.
func Check(ctx context.Context, opts ...Option) (*release.Release, error) {
	c, err := newConfig(opts, needs{repo: true})
	if err != nil {
		return nil, err
	}
	src, own, err := c.openSource()
	if err != nil {
		return nil, err
	}
	if closer, ok := src.(interface{ CloseIdleConnections() }); ok && own {
		defer closer.CloseIdleConnections()
	}
	r, err := check(ctx, c, src)
	return r, prefixed(err)
}

// check fetches release.json, verifies its signatures, then its version,
// platform and age, in that order. With TrustRoot it first brings the root
// up to date and resolves a Channel to a version (resolveTrust).
func check(ctx context.Context, c *config, src Source) (*release.Release, error) {
	if err := resolveTrust(ctx, c, src); err != nil {
		return nil, err
	}
	var r *release.Release
	if c.allowUnsigned {
		path, err := release.Path(c.version, c.goos, c.goarch)
		if err != nil {
			return nil, fmt.Errorf("apply: %w", err)
		}
		data, err := fetchSmall(ctx, c, src, path, limits.ReleaseJSON)
		if err != nil {
			return nil, err
		}
		if r, err = legacyRelease(c, data); err != nil {
			return nil, err
		}
		if err := r.Expect(c.version, c.goos, c.goarch); err != nil {
			return nil, metadataError(err)
		}
	} else {
		// The one check of a release, repotool's too.
		var ids []string
		var err error
		if r, ids, err = reader.Release(ctx, c.params(), src, c.trust, c.version, c.goos, c.goarch); err != nil {
			return nil, err
		}
		c.logger.Info("apply: release signature verified", "version", r.Version, "keys", ids)
	}
	if c.current != "" && !c.allowDowngrade {
		if cmp, _ := release.CompareVersions(r.Version, c.current); cmp < 0 {
			return nil, fmt.Errorf("%w: release %s, installed %s", ErrDowngrade, r.Version, c.current)
		}
	}
	return r, nil
}

// legacyRelease parses an unsigned go-updater release.json. Fields it lacks
// are taken from the request, which is all an unsigned release can offer.
func legacyRelease(c *config, data []byte) (*release.Release, error) {
	r, err := release.ParseLegacyUnsafe(data)
	if err != nil {
		return nil, metadataError(err)
	}
	if r.Version == "" && r.OS == "" && r.Arch == "" {
		r.Version, r.OS, r.Arch = c.version, c.goos, c.goarch
	}
	c.logger.Warn("apply: accepting an UNSIGNED release (AllowUnsignedUnsafe)", "version", r.Version, "os", r.OS, "arch", r.Arch)
	return r, nil
}

// logAttrs is a helper for debug logging of a release.
func logAttrs(r *release.Release) []any {
	return []any{slog.String("binary", r.Binary), slog.Int64("size", r.Size), slog.Int64("compressed_size", r.CompressedSize)}
}
