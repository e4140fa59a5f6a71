package repotool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/dsnet/compress/bzip2"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/release"
)

// compress streams bin through the compressor named kind ("" or "bzip2":
// bzip2 at level 9) into w, filling in r's hashes and sizes from the bytes
// actually read and written.
func compress(ctx context.Context, w io.Writer, bin io.Reader, r *release.Release, kind string) error {
	if kind != "" && kind != "bzip2" {
		return fmt.Errorf("unknown compression %q (want bzip2)", kind)
	}
	rawHash, zHash := sha256.New(), sha256.New()
	zCount := &countWriter{}
	zw, err := bzip2.NewWriter(io.MultiWriter(w, zHash, zCount), &bzip2.WriterConfig{Level: bzip2.BestCompression})
	if err != nil {
		return err
	}
	n, err := io.Copy(io.MultiWriter(zw, rawHash), &ctxReader{ctx: ctx, r: io.LimitReader(bin, limits.BinarySize+1)})
	if err != nil {
		return err
	}
	if n > limits.BinarySize {
		return fmt.Errorf("larger than %d bytes", int64(limits.BinarySize))
	}
	if err := zw.Close(); err != nil {
		return err
	}
	r.Hash, r.Size = hex.EncodeToString(rawHash.Sum(nil)), n
	r.CompressedHash, r.CompressedSize = hex.EncodeToString(zHash.Sum(nil)), zCount.n
	return nil
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
