package repotool

import (
	"compress/bzip2"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/release"
)

// checkPayload reads the payload of r from rd and checks it against r's
// compressed hash and size and, decompressed, its uncompressed hash and
// size. Reads are bounded by the sizes in r plus one byte, so a payload
// larger than declared is caught without reading it all, and memory stays
// flat whatever its size. r must have been parsed (and, where that
// matters, verified) already.
func checkPayload(ctx context.Context, rd repoReader, r *release.Release) error {
	name, err := r.PayloadPath()
	if err != nil {
		return fmt.Errorf("payload: %s", trimPrefix(err))
	}
	f, err := rd.Open(ctx, name)
	if err != nil {
		return fmt.Errorf("payload %w", err)
	}
	defer f.Close()

	zHash, zCount := sha256.New(), &countWriter{}
	src := &errReader{r: &ctxReader{ctx: ctx, r: io.LimitReader(f, r.CompressedSize+1)}}
	z := io.TeeReader(src, io.MultiWriter(zHash, zCount))
	rawHash := sha256.New()
	var n int64
	dz, closeDz, derr := newDecompressor(r.Binary, z)
	if derr == nil {
		n, derr = io.Copy(rawHash, io.LimitReader(dz, r.Size+1))
		closeDz()
	}
	// Hash the whole payload even if decompression stopped early, so that
	// a wrong payload is reported as such rather than as bad bzip2.
	io.Copy(io.Discard, z)
	if err := ctx.Err(); err != nil {
		return err
	}
	if src.err != nil {
		// The repository failed, not the payload: not a mismatch.
		return &fetchError{err: fmt.Errorf("payload %s: %w", r.Binary, src.err)}
	}
	switch {
	case zCount.n > r.CompressedSize:
		return fmt.Errorf("payload %s is larger than compressed_size %d", r.Binary, r.CompressedSize)
	case zCount.n < r.CompressedSize:
		return fmt.Errorf("payload %s is %d bytes, not compressed_size %d", r.Binary, zCount.n, r.CompressedSize)
	case hex.EncodeToString(zHash.Sum(nil)) != r.CompressedHash:
		return fmt.Errorf("payload %s does not match compressed_hash", r.Binary)
	case derr != nil:
		return fmt.Errorf("payload %s does not decompress: %v", r.Binary, derr)
	case n > r.Size:
		return fmt.Errorf("payload %s decompresses to more than size %d", r.Binary, r.Size)
	case n < r.Size:
		return fmt.Errorf("payload %s decompresses to %d bytes, not size %d", r.Binary, n, r.Size)
	case hex.EncodeToString(rawHash.Sum(nil)) != r.Hash:
		return fmt.Errorf("payload %s decompresses to bytes that do not match hash", r.Binary)
	}
	return nil
}

// errReader remembers the first read error other than io.EOF, so that an
// I/O error is not mistaken for corrupt data.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// newDecompressor returns a reader decompressing r as the payload name's
// suffix says: zstd for ".zst" (window bounded as clients bound it),
// bzip2 otherwise, as go-updater payloads are.
func newDecompressor(name string, r io.Reader) (io.Reader, func(), error) {
	if strings.HasSuffix(name, ".zst") {
		d, err := zstd.NewReader(r, zstd.WithDecoderMaxWindow(limits.ZstdWindow), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, err
		}
		return d, d.Close, nil
	}
	return bzip2.NewReader(r), func() {}, nil
}
