package repotool

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/safeupdate/safeupdate/internal/limits"
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
	r, err := release.Parse(data)
	if err != nil {
		return unverified(fmt.Errorf("release.json: %s", trimPrefix(err)))
	}
	if m.keys != nil {
		if _, err := r.Verify(m.keys); err != nil {
			return unverified(fmt.Errorf("release.json: %s", trimPrefix(err)))
		}
	}
	parts := strings.Split(dir, "/")
	if len(parts) != 3 {
		return unverified(errors.New("not a <version>/<os>/<arch> directory"))
	}
	if err := r.Expect(parts[0], parts[1], parts[2]); err != nil {
		return unverified(fmt.Errorf("release.json: %s", trimPrefix(err)))
	}
	if err := release.ValidName(r.Binary); err != nil {
		return unverified(fmt.Errorf("release.json: binary: %s", trimPrefix(err)))
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
		if metaSame && m.payloadPresent(ctx, r, payloadPath) == nil {
			m.res.Skipped = append(m.res.Skipped, metaPath, payloadPath)
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
// already, checking the signed compressed size and hash on the way.
func (m *mirror) payload(ctx context.Context, r *release.Release, name string) error {
	pf, err := payloadFormat(r)
	if err != nil {
		return fmt.Errorf("%w: %s; nothing was written", ErrUnverified, err)
	}
	tok, err := m.dst.token(ctx, name)
	if err != nil {
		return err
	}
	if tok != "" {
		if m.payloadPresent(ctx, r, name) == nil {
			m.res.Skipped = append(m.res.Skipped, name)
			return nil
		}
		if !m.cfg.Force {
			return errorf(ErrExists, "the destination holds another %s; use --force to replace it", name)
		}
	}
	f, err := m.src.rd.Open(ctx, name)
	if err != nil {
		return err
	}
	defer f.Close()
	vr := newHashCheck(io.LimitReader(f, r.CompressedSize+1), r)
	var src io.Reader = vr
	var bc *binaryCheck
	if m.cfg.CheckBinary {
		// Decompressed on the way too, so that a payload that does not
		// decompress to the signed binary is never written either.
		bc = newBinaryCheck(vr, pf, r)
		defer bc.stop()
		src = bc
	}
	bar := newProgress(m.cfg.Progress, "mirroring "+name, r.CompressedSize)
	err = m.dst.put(ctx, name, bar.Reader(src), ifUnchanged(tok))
	bar.Done(err)
	if vr.err != nil {
		return fmt.Errorf("%w: payload %s: %s; nothing was written", ErrUnverified, r.Binary, vr.err)
	}
	if bc != nil && bc.err != nil {
		return fmt.Errorf("%w: payload %s %s; nothing was written", ErrUnverified, r.Binary, bc.err)
	}
	if err != nil {
		return err
	}
	m.res.Copied = append(m.res.Copied, name)
	return nil
}

// payloadPresent checks the destination's payload of r against its signed
// compressed size and hash, or with CheckBinary fully.
func (m *mirror) payloadPresent(ctx context.Context, r *release.Release, name string) error {
	if m.cfg.CheckBinary {
		return checkPayload(ctx, m.dst.rd, r)
	}
	f, err := m.dst.rd.Open(ctx, name)
	if err != nil {
		return err
	}
	defer f.Close()
	hc := newHashCheck(io.LimitReader(f, r.CompressedSize+1), r)
	if _, err := io.Copy(io.Discard, hc); err != nil {
		return err
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

// hashCheck passes a payload through, and fails the read that would end
// it (instead of returning io.EOF) unless its size and sha256 are the
// signed ones, so a store that discards a failed upload never keeps it.
type hashCheck struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	want *release.Release
	err  error // why the payload was refused
}

func newHashCheck(r io.Reader, want *release.Release) *hashCheck {
	return &hashCheck{r: r, h: sha256.New(), want: want}
}

func (c *hashCheck) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if c.n > c.want.CompressedSize {
		c.err = fmt.Errorf("larger than compressed_size %d", c.want.CompressedSize)
		return 0, c.err
	}
	if err == io.EOF {
		switch {
		case c.n < c.want.CompressedSize:
			c.err = fmt.Errorf("%d bytes, not compressed_size %d", c.n, c.want.CompressedSize)
		case hex.EncodeToString(c.h.Sum(nil)) != c.want.CompressedHash:
			c.err = errors.New("does not match compressed_hash")
		}
		if c.err != nil {
			return n, c.err
		}
	}
	return n, err
}
