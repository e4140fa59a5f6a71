package repotool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/pbzip2"
	"github.com/safeupdate/safeupdate/release"
)

// The compression kinds a payload may use. "" means bzip2, the only one
// go-updater clients read.
const (
	kindBzip2 = "bzip2"
	kindZstd  = "zstd"
)

// zstd payloads are written with window limits.ZstdWindow, which clients
// enforce: a larger one would be refused.

// zstdLevel: a payload is compressed once and downloaded many times. On
// 100 MiB of executables, SpeedBestCompression made 33.1% of the input in
// 12.7 s of CPU, SpeedBetterCompression 35.4% in 2.0 s (bzip2 -9: 35.3%).
// WithConcurrentBlocks is left off: it cost 37% more CPU there, and
// decoding speed, zstd's point here, does not depend on it.
const zstdLevel = zstd.SpeedBestCompression

// payloadSuffix returns the file name suffix of a payload compressed with
// kind: ".bz2" or ".zst".
func payloadSuffix(kind string) (string, error) {
	switch kind {
	case "", kindBzip2:
		return ".bz2", nil
	case kindZstd:
		return ".zst", nil
	}
	return "", unknownKind(kind)
}

func unknownKind(kind string) error {
	return fmt.Errorf("unknown compression %q (valid: %s, %s)", kind, kindBzip2, kindZstd)
}

// newCompressor returns a writer compressing to w with kind. bzip2 runs on
// all cores and writes a sequence of complete bzip2 streams (as pbzip2
// does), which every bzip2 decoder reads; zstd writes one frame with window
// limits.ZstdWindow, encoding and entropy coding on separate goroutines.
func newCompressor(w io.Writer, kind string) (io.WriteCloser, error) {
	switch kind {
	case "", kindBzip2:
		return pbzip2.NewWriter(w)
	case kindZstd:
		return zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstdLevel),
			zstd.WithWindowSize(limits.ZstdWindow),
			zstd.WithEncoderCRC(true),
			zstd.WithZeroFrames(true)) // an empty binary still makes a valid frame
	}
	return nil, unknownKind(kind)
}

// compress streams bin through the compressor named kind ("" or "bzip2",
// or "zstd") into w, filling in r's hashes and sizes from the bytes
// actually read and written. On error nothing more is written to w after
// the error, and w's content is not a valid payload.
func compress(ctx context.Context, w io.Writer, bin io.Reader, r *release.Release, kind string) error {
	rawHash, zHash := sha256.New(), sha256.New()
	zCount := &countWriter{}
	dst := &abortWriter{w: io.MultiWriter(w, zHash, zCount)}
	zw, err := newCompressor(dst, kind)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.MultiWriter(zw, rawHash), &ctxReader{ctx: ctx, r: io.LimitReader(bin, limits.BinarySize+1)})
	if err == nil && n > limits.BinarySize {
		err = fmt.Errorf("larger than %d bytes", int64(limits.BinarySize))
	}
	if err != nil {
		// Close stops the compressor's goroutines; dst drops what it
		// would still write.
		dst.abort()
		zw.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	r.Hash, r.Size = hex.EncodeToString(rawHash.Sum(nil)), n
	r.CompressedHash, r.CompressedSize = hex.EncodeToString(zHash.Sum(nil)), zCount.n
	return nil
}

var errAborted = errors.New("compression aborted")

// abortWriter passes writes to w until abort is called, then refuses them.
// Compressors write from their own goroutines, hence the atomic.
type abortWriter struct {
	w       io.Writer
	aborted atomic.Bool
}

func (a *abortWriter) abort() { a.aborted.Store(true) }

func (a *abortWriter) Write(p []byte) (int, error) {
	if a.aborted.Load() {
		return 0, errAborted
	}
	return a.w.Write(p)
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// ctxReader stops a long copy when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
