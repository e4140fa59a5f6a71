package apply

import (
	"compress/bzip2"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/release"
)

// download streams the payload of r into f and checks it against r:
//
//	source → limit compressed_size+1 → sha256 → bzip2 → limit size+1 → sha256 → f
//
// Nothing beyond one byte past a signed size is ever read, and memory use
// does not depend on the payload's size. An unsigned legacy release without
// sizes is bounded by limits.BinarySize instead.
func download(ctx context.Context, c *config, src Source, r *release.Release, f *os.File) error {
	path, err := r.PayloadPath()
	if err != nil {
		return metadataError(err)
	}
	csizeLimit, sizeLimit, total := r.CompressedSize, r.Size, r.Size
	if csizeLimit == 0 {
		csizeLimit = limits.BinarySize
	}
	if sizeLimit == 0 {
		sizeLimit, total = limits.BinarySize, -1
	}
	c.logger.Debug("apply: downloading payload", "path", path, "size", r.Size, "compressed_size", r.CompressedSize)

	w := newWatchdog(ctx, c.stall)
	defer w.stop()
	rc, err := src.Open(w.ctx, path, 0)
	if err != nil {
		return sourceError(path, w.explain(err))
	}
	defer rc.Close()

	in := &hashingReader{r: io.LimitReader(w.reader(rc), csizeLimit+1), h: sha256.New()}
	out := &hashingWriter{w: f, h: sha256.New(), progress: c.progress, total: total}
	_, decodeErr := io.Copy(out, io.LimitReader(bzip2.NewReader(in), sizeLimit+1))
	if out.err != nil {
		return fmt.Errorf("apply: writing the new binary: %w", out.err)
	}
	// Whatever the decoder did (it may stop early, on an error or on too
	// much output), read the rest of the compressed stream, up to the same
	// limit, so that its size and hash decide between a tampered payload
	// and an oversized one.
	if in.err == nil && in.n <= csizeLimit {
		_, _ = io.Copy(io.Discard, in)
	}
	switch {
	case in.n > csizeLimit:
		return fmt.Errorf("%w: %s is longer than the signed %d bytes", ErrTooLarge, path, csizeLimit)
	case in.err != nil:
		return fmt.Errorf("apply: downloading %s: %w", path, in.err)
	case r.CompressedSize != 0 && in.n != r.CompressedSize:
		return fmt.Errorf("%w: %s is %d bytes, signed %d", ErrChecksum, path, in.n, r.CompressedSize)
	case r.CompressedHash != "" && in.sum() != r.CompressedHash:
		return fmt.Errorf("%w: %s has sha256 %s, signed %s", ErrChecksum, path, in.sum(), r.CompressedHash)
	case out.n > sizeLimit:
		return fmt.Errorf("%w: %s decompresses to more than the signed %d bytes", ErrTooLarge, path, sizeLimit)
	case decodeErr != nil:
		return fmt.Errorf("%w: %s is not valid bzip2: %v", ErrChecksum, path, decodeErr)
	case r.Size != 0 && out.n != r.Size:
		return fmt.Errorf("%w: binary is %d bytes, signed %d", ErrChecksum, out.n, r.Size)
	case out.sum() != r.Hash:
		return fmt.Errorf("%w: binary has sha256 %s, signed %s", ErrChecksum, out.sum(), r.Hash)
	}
	c.logger.Debug("apply: payload verified", logAttrs(r)...)
	return nil
}

// hashingReader hashes and counts what it reads, and keeps the first
// error other than io.EOF.
type hashingReader struct {
	r   io.Reader
	h   hash.Hash
	n   int64
	err error
}

func (hr *hashingReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	hr.n += int64(n)
	if err != nil && err != io.EOF && hr.err == nil {
		hr.err = err
	}
	return n, err
}

func (hr *hashingReader) sum() string { return hex.EncodeToString(hr.h.Sum(nil)) }

// hashingWriter writes to w, hashes and counts what was written, reports
// progress, and keeps the first write error.
type hashingWriter struct {
	w        io.Writer
	h        hash.Hash
	n        int64
	err      error
	progress func(done, total int64)
	total    int64
}

func (hw *hashingWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	if err != nil && hw.err == nil {
		hw.err = err
	}
	if hw.progress != nil && n > 0 {
		hw.progress(hw.n, hw.total)
	}
	return n, err
}

func (hw *hashingWriter) sum() string { return hex.EncodeToString(hw.h.Sum(nil)) }
