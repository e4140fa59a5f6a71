package reader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/release"
)

// download streams the payload of r into f and checks it against r:
//
//	source → limit compressed_size+1 → sha256 → decoder → limit size+1 → sha256 → f
//
// in three goroutines (see pipeline.go). The decoder is bzip2 or zstd, as
// the signed binary name says (payloadFormat). If the source's stream fails
// midway, it is resumed from the first byte not yet received (resumer),
// and the same hashes go on over the resumed stream.
//
// Nothing beyond one byte past a signed size is ever read, and memory use
// does not depend on the payload's size. An unsigned legacy release without
// sizes is bounded by limits.BinarySize instead.
//
// With h.tee, the compressed payload is also written there as it is read;
// with h.noDecode, only the compressed payload is checked (f gets nothing).
func download(ctx context.Context, p *Params, src Source, r *release.Release, f io.Writer, h how) error {
	path, err := r.PayloadPath()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMetadata, err)
	}
	format, err := payloadFormat(r.Binary)
	if err != nil {
		return err
	}
	csizeLimit, sizeLimit, total := r.CompressedSize, r.Size, r.Size
	if csizeLimit == 0 {
		csizeLimit = limits.BinarySize
	}
	if sizeLimit == 0 {
		sizeLimit, total = limits.BinarySize, -1
	}
	p.logger().Debug("downloading payload", "path", path, "format", format, "size", r.Size, "compressed_size", r.CompressedSize)

	w := newWatchdog(ctx, p.stall())
	defer w.stop()
	rc, err := openPayload(w, src, path, r.CompressedSize)
	if err != nil {
		return err
	}
	defer rc.Close()

	done := make(chan struct{})
	fetched, decoded := newQueue(done), newQueue(done)
	var dec io.Reader
	closeDec := func() {}
	if !h.noDecode {
		if dec, closeDec, err = newDecoder(format, fetched.reader()); err != nil {
			return err
		}
	}
	in := &hashingReader{r: io.LimitReader(rc, csizeLimit+1), h: sha256.New(), tee: h.tee}
	var decodeErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		fetched.produce(in)
	}()
	go func() {
		defer wg.Done()
		if dec != nil {
			decoded.produce(io.LimitReader(dec, sizeLimit+1))
			decodeErr = decoded.err
		} else {
			close(decoded.ch)
		}
		closeDec()
		// Whatever the decoder did (it may stop early, on an error or on
		// too much output), the rest of the compressed stream is read, up
		// to the same limit, so that its size and hash decide between a
		// tampered payload and an oversized one.
		fetched.drain()
	}()
	defer wg.Wait() // after close(done), below
	defer close(done)
	defer w.stop() // ends a fetch blocked in the source

	var progress func(done, total int64)
	if p != nil {
		progress = p.Progress
	}
	out := &hashingWriter{w: f, h: sha256.New(), progress: progress, total: total}
	for b := range decoded.ch {
		out.Write(b)
		decoded.recycle(b)
		if out.err != nil {
			return fmt.Errorf("writing the new binary: %w", out.err)
		}
	}
	wg.Wait()
	switch {
	case in.n > csizeLimit:
		return fmt.Errorf("%w: %s is longer than the signed %d bytes", ErrTooLarge, path, csizeLimit)
	case in.err != nil:
		return &FetchError{Path: path, Err: in.err}
	case r.CompressedSize != 0 && in.n != r.CompressedSize:
		return fmt.Errorf("%w: %s is %d bytes, signed %d", ErrChecksum, path, in.n, r.CompressedSize)
	case r.CompressedHash != "" && in.sum() != r.CompressedHash:
		return fmt.Errorf("%w: %s has sha256 %s, signed %s", ErrChecksum, path, in.sum(), r.CompressedHash)
	case h.noDecode:
		return nil
	case out.n > sizeLimit:
		return fmt.Errorf("%w: %s decompresses to more than the signed %d bytes", ErrTooLarge, path, sizeLimit)
	case decodeErr != nil:
		return decodeError(format, path, decodeErr)
	case r.Size != 0 && out.n != r.Size:
		return fmt.Errorf("%w: binary is %d bytes, signed %d", ErrChecksum, out.n, r.Size)
	case out.sum() != r.Hash:
		return fmt.Errorf("%w: binary has sha256 %s, signed %s", ErrChecksum, out.sum(), r.Hash)
	}
	p.logger().Debug("payload verified", "binary", r.Binary, "size", r.Size, "compressed_size", r.CompressedSize)
	return nil
}

// how varies what download does.
type how struct {
	tee      io.Writer // receives the compressed payload as it is read
	noDecode bool      // check the compressed payload only
}

// hashingReader hashes and counts what it reads, copies it to tee if set,
// and keeps the first error other than io.EOF.
type hashingReader struct {
	r   io.Reader
	h   hash.Hash
	tee io.Writer
	n   int64
	err error
}

func (hr *hashingReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	hr.n += int64(n)
	if hr.tee != nil && n > 0 {
		if _, werr := hr.tee.Write(p[:n]); werr != nil {
			err = fmt.Errorf("copying: %w", werr)
		}
	}
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
