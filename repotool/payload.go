package repotool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/safeupdate/safeupdate/internal/payload"
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
	pf, err := payloadFormat(r)
	if err != nil {
		return err
	}
	f, err := rd.Open(ctx, name)
	if err != nil {
		return fmt.Errorf("payload %w", err)
	}
	defer f.Close()

	zHash, zCount := sha256.New(), &countWriter{}
	src := &errReader{r: &ctxReader{ctx: ctx, r: io.LimitReader(f, r.CompressedSize+1)}}
	z := io.TeeReader(src, io.MultiWriter(zHash, zCount))
	binErr := checkBinary(z, pf, r)
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
	case binErr != nil:
		return fmt.Errorf("payload %s %w", r.Binary, binErr)
	}
	return nil
}

// payloadFormat returns how the payload of r is compressed, by the rule
// clients apply (internal/payload), so that a release no client installs
// is refused before any of its payload is read.
func payloadFormat(r *release.Release) (payload.Format, error) {
	f, err := payload.FormatOf(r.Binary)
	if err != nil {
		return 0, fmt.Errorf("refused by clients: %v", err)
	}
	return f, nil
}

// checkBinary decompresses the payload of r, compressed as f, from z and
// checks the binary against r's size and hash, reading at most one byte
// more than the size.
func checkBinary(z io.Reader, f payload.Format, r *release.Release) error {
	dz, closeDz, err := payload.NewDecoder(f, z, runtime.GOMAXPROCS(0))
	if err != nil {
		return fmt.Errorf("does not decompress: %v", err)
	}
	defer closeDz()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(dz, r.Size+1))
	switch {
	case err != nil:
		return fmt.Errorf("does not decompress: %v", err)
	case n > r.Size:
		return fmt.Errorf("decompresses to more than size %d", r.Size)
	case n < r.Size:
		return fmt.Errorf("decompresses to %d bytes, not size %d", n, r.Size)
	case hex.EncodeToString(h.Sum(nil)) != r.Hash:
		return errors.New("decompresses to bytes that do not match hash")
	}
	return nil
}

// errUploadStopped ends the decompression of a binaryCheck whose upload
// stopped before the end of the payload.
var errUploadStopped = errors.New("the upload stopped")

// binaryCheck passes a payload through while it is decompressed on another
// goroutine, and fails the read that would end the payload (instead of
// returning io.EOF) unless it decompresses to the signed binary, so that a
// store, which discards an upload whose reader fails, never keeps it. Call
// stop once the upload is over.
type binaryCheck struct {
	r   io.Reader
	pw  *io.PipeWriter
	res chan error
	err error // why the binary was refused
}

func newBinaryCheck(r io.Reader, f payload.Format, want *release.Release) *binaryCheck {
	pr, pw := io.Pipe()
	c := &binaryCheck{r: r, pw: pw, res: make(chan error, 1)}
	go func() {
		err := checkBinary(pr, f, want)
		// Should decompression stop early, later writes fail at once
		// rather than wait for a reader.
		pr.CloseWithError(errUploadStopped)
		c.res <- err
	}()
	return c
}

func (c *binaryCheck) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	if n > 0 {
		c.pw.Write(p[:n]) // an error means decompression stopped; its verdict comes at the end
	}
	if err == io.EOF {
		c.pw.Close()
		if c.err = <-c.res; c.err != nil {
			return n, c.err
		}
	}
	return n, err
}

func (c *binaryCheck) stop() { c.pw.CloseWithError(errUploadStopped) }

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
