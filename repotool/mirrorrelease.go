package repotool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/reader"
	"github.com/safeupdate/safeupdate/release"
)

// release verifies and copies the release in dir.
func (m *mirror) release(ctx context.Context, dir string) error {
	unverified := func(err error) error { return fmt.Errorf("%w: %s", ErrUnverified, trimPrefix(err)) }
	metaPath := dir + "/" + release.FileName
	data, err := readRepoFile(ctx, m.src.rd, metaPath, limits.ReleaseJSON)
	if err != nil {
		return err
	}
	parts := strings.Split(dir, "/")
	if len(parts) != 3 {
		return unverified(errors.New("not a <version>/<os>/<arch> directory"))
	}
	var r *release.Release
	if m.keys != nil {
		// The one check of a release, the client's.
		if r, _, err = reader.VerifyRelease(data, m.keys, parts[0], parts[1], parts[2]); err != nil {
			return unverified(fmt.Errorf("release.json: %s", trimPrefix(err)))
		}
	} else {
		// UnverifiedUnsafe: parsed and placed, never verified.
		if r, err = release.Parse(data); err != nil {
			return unverified(fmt.Errorf("release.json: %s", trimPrefix(err)))
		}
		if err := r.Expect(parts[0], parts[1], parts[2]); err != nil {
			return unverified(fmt.Errorf("release.json: %s", trimPrefix(err)))
		}
	}
	payloadPath := dir + "/" + r.Binary

	metaTok, err := m.dst.token(ctx, metaPath)
	if err != nil {
		return err
	}
	metaSame := false
	if metaTok != "" {
		old, err := readRepoFile(ctx, m.dst.rd, metaPath, limits.ReleaseJSON)
		if err != nil {
			return fmt.Errorf("destination: %w", err)
		}
		metaSame = bytes.Equal(old, data)
		if metaSame && m.payloadPresent(ctx, r, payloadPath) == nil && m.patchesPresent(ctx, r) == nil {
			m.res.Skipped = append(m.res.Skipped, metaPath, payloadPath)
			for _, pt := range r.Patches {
				m.res.Skipped = append(m.res.Skipped, dir+"/"+pt.File)
			}
			m.verified[dir] = true
			return nil
		}
		if !m.cfg.Force && !onlyGainsSignatures(old, r) {
			return errorf(ErrExists, "the destination holds another release %s, or the same one with signatures the source lacks; use --force to replace it", dir)
		}
	}
	if err := m.payload(ctx, r, payloadPath); err != nil {
		return err
	}
	for _, pt := range r.Patches {
		if err := m.patch(ctx, r, pt); err != nil {
			return err
		}
	}
	if !metaSame {
		if err := m.dst.put(ctx, metaPath, bytes.NewReader(data), ifUnchanged(metaTok)); err != nil {
			return err
		}
		m.res.Copied = append(m.res.Copied, metaPath)
	}
	m.verified[dir] = true
	return nil
}

// payload copies the payload of r unless the destination holds it
// already, checked on the way by the client's pipeline (reader.Copy): its
// signed compressed size and hash and, with CheckBinary, the binary it
// decodes to. A payload that fails is never kept by the destination.
func (m *mirror) payload(ctx context.Context, r *release.Release, name string) error {
	if err := reader.CheckPayloadName(r.Binary); err != nil {
		return fmt.Errorf("%w: %s; nothing was written", ErrUnverified, trimPrefix(err))
	}
	return m.copyChecked(ctx, name, r.CompressedSize, func(src reader.Source) io.ReadCloser {
		return reader.Copy(ctx, params(), src, r, m.cfg.CheckBinary)
	})
}

// payloadPresent checks the destination's payload of r as payload checks
// the source's: its signed compressed size and hash, or with CheckBinary
// fully.
func (m *mirror) payloadPresent(ctx context.Context, r *release.Release, name string) error {
	return drain(reader.Copy(ctx, params(), m.dst.rd, r, m.cfg.CheckBinary))
}

// patch copies the patch pt of r unless the destination holds it already,
// checked on the way against its signed size and hash (reader.CopyPatch).
// A patch that fails is never kept by the destination.
func (m *mirror) patch(ctx context.Context, r *release.Release, pt release.Patch) error {
	name, err := r.PatchPath(pt)
	if err != nil {
		return fmt.Errorf("%w: %s; nothing was written", ErrUnverified, trimPrefix(err))
	}
	return m.copyChecked(ctx, name, pt.Size, func(src reader.Source) io.ReadCloser {
		return reader.CopyPatch(ctx, params(), src, r, pt)
	})
}

// patchPresent checks the destination's copy of the patch pt of r as
// patch checks the source's.
func (m *mirror) patchPresent(ctx context.Context, r *release.Release, pt release.Patch) error {
	return drain(reader.CopyPatch(ctx, params(), m.dst.rd, r, pt))
}

// copyChecked copies the file name of size bytes, read through open (a
// reader.Copy or reader.CopyPatch of the source, whose last read fails
// unless the file is what the release signs), unless the destination's
// copy passes the same check. Without --force another file there is
// refused. A file that fails is never kept by the destination: the
// upload ends with the failed read.
func (m *mirror) copyChecked(ctx context.Context, name string, size int64, open func(reader.Source) io.ReadCloser) error {
	tok, err := m.dst.token(ctx, name)
	if err != nil {
		return err
	}
	if tok != "" {
		if drain(open(m.dst.rd)) == nil {
			m.res.Skipped = append(m.res.Skipped, name)
			return nil
		}
		if !m.cfg.Force {
			return errorf(ErrExists, "the destination holds another %s; use --force to replace it", name)
		}
	}
	rc := open(m.src.rd)
	defer rc.Close()
	src := &firstError{r: rc}
	bar := newProgress(m.cfg.Progress, "mirroring "+name, size)
	err = m.dst.put(ctx, name, bar.Reader(src), ifUnchanged(tok))
	bar.Done(err)
	switch {
	case src.err != nil && unreachable(src.err):
		return fmt.Errorf("source: %w", src.err)
	case src.err != nil:
		return fmt.Errorf("%w: %s; nothing was written", ErrUnverified, trimPrefix(src.err))
	case err != nil:
		return err
	}
	m.res.Copied = append(m.res.Copied, name)
	return nil
}

// drain reads rc to its end and closes it, returning the first error.
func drain(rc io.ReadCloser) error {
	defer rc.Close()
	_, err := io.Copy(io.Discard, rc)
	return err
}

// patchesPresent checks every patch of r in the destination.
func (m *mirror) patchesPresent(ctx context.Context, r *release.Release) error {
	for _, pt := range r.Patches {
		if err := m.patchPresent(ctx, r, pt); err != nil {
			return err
		}
	}
	return nil
}

// onlyGainsSignatures reports whether r may replace the release.json old
// without --force: it signs the same content and keeps every signature old
// has (key id and bytes), so a replacement adds signatures and never takes one
// away, which could leave a client's threshold unmet.
func onlyGainsSignatures(old []byte, r *release.Release) bool {
	o, err := release.Parse(old)
	if err != nil {
		return false
	}
	a, err1 := o.SigningBytes()
	b, err2 := r.SigningBytes()
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
		return false
	}
	has := make(map[release.Signature]bool, len(r.Signatures))
	for _, sig := range r.Signatures {
		has[sig] = true
	}
	for _, sig := range o.Signatures {
		if !has[sig] {
			return false
		}
	}
	return true
}

// firstError passes r through and keeps its first error other than io.EOF.
type firstError struct {
	r   io.Reader
	err error
}

func (f *firstError) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil && err != io.EOF && f.err == nil {
		f.err = err
	}
	return n, err
}
