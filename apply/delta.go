package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/safeupdate/safeupdate/internal/reader"
	"github.com/safeupdate/safeupdate/release"
)

// NoDelta turns patches off: Apply always downloads the release's full
// payload, even when the release signs a patch from the target's binary.
// It gives up no check; it only costs the bytes a patch would save.
func NoDelta() Option {
	return func(c *config) error { c.noDelta = true; return nil }
}

// errNoPatch means the release signs no patch from the target's binary.
var errNoPatch = errors.New("the release has no patch from this binary")

// testHookBaseHashed, set only by tests, runs once the target's sha256 has
// been taken and before the patch is applied to it.
var testHookBaseHashed func()

// fetchNew writes the verified binary of r into p.f. When r signs a patch
// whose base is the target's binary (sha256 and size), it is downloaded
// and applied (reader.Patched), and the result checked against r's hash
// and size; if that fails in any way, or there is no such patch, the full
// payload is downloaded into the same file instead, after a log line that
// says why. Nothing else differs: what the caller installs has passed the
// same check either way, and either is written through startWriteback.
func fetchNew(ctx context.Context, c *config, src Source, r *release.Release, p *pending) error {
	if !c.noDelta && !c.allowUnsigned && len(r.Patches) > 0 {
		err := patchInto(ctx, c, src, r, startWriteback(p.f))
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return prefixed(err)
		}
		if errors.Is(err, errNoPatch) {
			c.logger.Info("apply: no patch from the installed binary, downloading the full payload", "target", c.target)
		} else {
			c.logger.Warn("apply: the patch failed, downloading the full payload", "target", c.target, "err", prefixed(err))
		}
		if err := rewind(p.f); err != nil {
			return err
		}
	}
	return downloadAtRate(ctx, c, src, r, startWriteback(p.f))
}

// patchInto builds the binary of r into f from the patch of r whose base
// is the target, opened read-only.
func patchInto(ctx context.Context, c *config, src Source, r *release.Release, f io.Writer) error {
	old, err := os.Open(c.target)
	if err != nil {
		return fmt.Errorf("opening the installed binary: %w", err)
	}
	defer old.Close()
	fi, err := old.Stat()
	if err != nil {
		return fmt.Errorf("the installed binary: %w", err)
	}
	if !fi.Mode().IsRegular() || !hasBaseSize(r, fi.Size()) {
		return errNoPatch
	}
	h := sha256.New()
	n, err := io.Copy(h, io.NewSectionReader(old, 0, fi.Size()+1))
	if err != nil {
		return fmt.Errorf("hashing the installed binary: %w", err)
	}
	pt, ok := r.PatchFrom(hex.EncodeToString(h.Sum(nil)), n)
	if !ok {
		return errNoPatch
	}
	if testHookBaseHashed != nil {
		testHookBaseHashed()
	}
	tmp, err := createTemp(c.target)
	if err != nil {
		return fmt.Errorf("keeping the patch: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	c.logger.Info("apply: updating by patch", "base_version", pt.BaseVersion, "patch", pt.File, "patch_size", pt.Size, "payload_size", r.CompressedSize)
	return reader.Patched(ctx, c.params(), src, r, pt, old, tmp, f)
}

// hasBaseSize reports whether a patch of r has a base of size bytes, so
// that a binary no patch can apply to is not hashed for nothing.
func hasBaseSize(r *release.Release, size int64) bool {
	for _, pt := range r.Patches {
		if pt.BaseSize == size {
			return true
		}
	}
	return false
}

// rewind empties f, for the full payload after a failed patch.
func rewind(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("apply: emptying the new binary after a failed patch: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("apply: emptying the new binary after a failed patch: %w", err)
	}
	return nil
}
