package reader

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/safeupdate/safeupdate/internal/bsdiff"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/trust"
)

// Temp is a temporary file that a patch, or the binary it applies to, is
// written to and then read back from at random offsets.
type Temp interface {
	io.Writer
	io.ReaderAt
}

// Patched builds the binary of the verified release r from its signed
// patch pt and base, the binary pt applies to (base must be the binary
// whose sha256 and size pt signs as its base: the caller compares them,
// since only it knows where base comes from), and writes it to w:
//
//	source → limit pt.Size+1 → sha256 → tmp; then bspatch(base, tmp) → limit r.Size → sha256 → w
//
// The patch is downloaded first, in full, bounded by its signed size and
// hashed as it streams, under the deadline and resumption of Payload, and
// compared with its signed hash and size before a byte of it is
// interpreted. It is then applied with bounded memory (package bsdiff),
// and the result must be exactly the binary r signs: its size and sha256.
// Progress, when set, gets the patch's bytes as they arrive, with its
// signed size. w receives the binary before it is checked: on error,
// discard what w got.
//
// Errors wrap ErrChecksum (the patch is not what was signed, does not
// apply, or does not yield r's binary: a tampered patch, or a base that
// changed under it), ErrTooLarge (a patch longer than signed, or one whose
// output would pass r's size), ErrMetadata (pt names no usable file or
// format), or are a *FetchError (the repository could not be read).
func Patched(ctx context.Context, p *Params, src Source, r *release.Release, pt release.Patch, base io.ReaderAt, tmp Temp, w io.Writer) error {
	path, err := r.PatchPath(pt)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMetadata, err)
	}
	if pt.Format != bsdiff.Format {
		return fmt.Errorf("%w: %s: patch format %q, want %q", ErrMetadata, path, pt.Format, bsdiff.Format)
	}
	p.logger().Debug("downloading patch", "path", path, "size", pt.Size, "base_version", pt.BaseVersion)
	err = atMinRate(ctx, p, path, pt.Size, func(ctx context.Context) error {
		return fetchPatch(ctx, p, src, path, pt, tmp)
	})
	if err != nil {
		return err
	}
	// Applying takes CPU time up to the signed size; ctx ends it at the
	// next write.
	out := &hashingWriter{w: ctxWriter{ctx, w}, h: sha256.New()}
	err = bsdiff.Patch(out, base, pt.BaseSize, tmp, pt.Size, r.Size)
	switch {
	case out.err != nil:
		return fmt.Errorf("writing the new binary: %w", out.err)
	case errors.Is(err, bsdiff.ErrSize):
		return fmt.Errorf("%w: %s would make a binary other than the signed %d bytes: %v", ErrTooLarge, path, r.Size, err)
	case errors.Is(err, bsdiff.ErrCorrupt):
		return fmt.Errorf("%w: %s does not apply: %v", ErrChecksum, path, err)
	case err != nil:
		return fmt.Errorf("%w: applying %s: %v", ErrChecksum, path, err)
	case out.n != r.Size:
		return fmt.Errorf("%w: %s makes a binary of %d bytes, signed %d", ErrChecksum, path, out.n, r.Size)
	case out.sum() != r.Hash:
		return fmt.Errorf("%w: %s makes a binary with sha256 %s, signed %s (the base changed?)", ErrChecksum, path, out.sum(), r.Hash)
	}
	p.logger().Debug("patch verified", "path", path, "size", pt.Size, "binary_size", r.Size)
	return nil
}

// ctxWriter writes to w until ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// fetchPatch downloads the patch at path into tmp and checks its signed
// size and hash.
func fetchPatch(ctx context.Context, p *Params, src Source, path string, pt release.Patch, tmp io.Writer) error {
	w := newWatchdog(ctx, p.stall())
	defer w.stop()
	rc, err := openPayload(w, src, path, pt.Size)
	if err != nil {
		return err
	}
	defer rc.Close()
	in := &hashingReader{r: io.LimitReader(rc, pt.Size+1), h: sha256.New()}
	var progress func(done, total int64)
	if p != nil {
		progress = p.Progress
	}
	out := &hashingWriter{w: tmp, h: sha256.New(), progress: progress, total: pt.Size}
	_, err = io.Copy(out, in)
	switch {
	case in.n > pt.Size:
		return fmt.Errorf("%w: %s is longer than the signed %d bytes", ErrTooLarge, path, pt.Size)
	case in.err != nil:
		return &FetchError{Path: path, Err: in.err}
	case out.err != nil:
		return fmt.Errorf("keeping the patch: %w", out.err)
	case err != nil:
		return err
	case in.n != pt.Size:
		return fmt.Errorf("%w: %s is %d bytes, signed %d", ErrChecksum, path, in.n, pt.Size)
	case in.sum() != pt.Hash:
		return fmt.Errorf("%w: %s has sha256 %s, signed %s", ErrChecksum, path, in.sum(), pt.Hash)
	}
	return nil
}

// CheckPatch checks the patch pt of the verified release r exactly as a
// client whose binary is pt's base would use it: it fetches the release
// pt.BaseVersion for r's platform and verifies it with tk (Release), which
// must sign pt's base hash and size; downloads and checks its payload
// (Payload) into baseTmp; then builds r's binary from the patch and that
// base (Patched, with patchTmp) and discards it. So a patch that passes
// is one that every client holding the base accepts. Errors are those of
// Release, Payload and Patched; a base release that signs another binary
// wraps ErrChecksum.
func CheckPatch(ctx context.Context, p *Params, src Source, tk trust.Verifier, r *release.Release, pt release.Patch, baseTmp, patchTmp Temp) error {
	base, _, err := Release(ctx, p, src, tk, pt.BaseVersion, r.OS, r.Arch)
	if err != nil {
		return fmt.Errorf("base release %s: %w", pt.BaseVersion, err)
	}
	if base.Hash != pt.BaseHash || base.Size != pt.BaseSize {
		return fmt.Errorf("%w: patch %s is for a base binary of sha256 %s, %d bytes; release %s signs sha256 %s, %d bytes", ErrChecksum, pt.File, pt.BaseHash, pt.BaseSize, pt.BaseVersion, base.Hash, base.Size)
	}
	if err := Payload(ctx, p, src, base, baseTmp); err != nil {
		return fmt.Errorf("base release %s: %w", pt.BaseVersion, err)
	}
	return Patched(ctx, p, src, r, pt, baseTmp, patchTmp, io.Discard)
}

// CopyPatch returns the patch pt of the verified release r, read from
// src, for copying it elsewhere (a mirror), as Copy returns a payload: the
// bytes pass through as they come, bounded by the patch's signed size,
// and the read that would end the stream fails instead of returning
// io.EOF unless they are the patch's signed size and sha256. Close stops
// the reading.
func CopyPatch(ctx context.Context, p *Params, src Source, r *release.Release, pt release.Patch) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		path, err := r.PatchPath(pt)
		if err != nil {
			err = fmt.Errorf("%w: %w", ErrMetadata, err)
		} else {
			err = atMinRate(ctx, p, path, pt.Size, func(ctx context.Context) error {
				return fetchPatch(ctx, p, src, path, pt, pw)
			})
		}
		if err == nil {
			err = io.EOF
		}
		pw.CloseWithError(err)
	}()
	return &copyReader{pr: pr, cancel: cancel, done: done}
}
