package reader

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/release"
)

// DefaultMinRate is the slowest average rate, in bytes per second, at
// which a payload may arrive unless Params.MinRate says otherwise. It
// belongs with the other bounds in internal/limits.
const DefaultMinRate = 8 << 10

// slowError reports a payload that arrived too slowly on average.
type slowError struct {
	rate  int64
	after time.Duration
}

func (e *slowError) Error() string {
	return fmt.Sprintf("the payload arrived slower than %d bytes/s on average, giving up after %v (slow retrieval; see MinimumRate)", e.rate, e.after)
}

// Is makes it a kind of timeout for callers that check for one.
func (e *slowError) Is(target error) bool { return target == context.DeadlineExceeded }

// Payload streams the payload of the verified release r from src into w
// and checks it: its compressed size and sha256, then, decoded by the one
// decoder (NAME.bz2 is bzip2, NAME.zst zstd, nothing else is either), the
// binary's size and sha256, all as r signs them. w receives the binary as
// it is decoded, before it is checked: on error, discard what w got. A
// stream that fails midway is resumed where it stopped.
//
// Besides the stall watchdog, the whole transfer has a deadline: the stall
// timeout (time to start) plus the signed compressed size at the minimum
// rate. The watchdog alone cannot stop a server that trickles a byte just
// before each stall timeout; this deadline does, whether or not ctx has
// one.
//
// Errors wrap ErrChecksum (the payload is not what r signs), ErrTooLarge
// (longer than signed), ErrMetadata (r names no payload this reader
// accepts), or are a *FetchError (the repository could not be read).
func Payload(ctx context.Context, p *Params, src Source, r *release.Release, w io.Writer) error {
	return payloadAtRate(ctx, p, src, r, w, how{})
}

// Copy returns the compressed payload of the verified release r, read from
// src, for copying it elsewhere (a mirror): the bytes pass through as they
// come, and the read that would end the stream fails instead of returning
// io.EOF unless the payload is what r signs, checked by Payload's pipeline:
// its compressed size and hash and, with binary, the binary it decodes to.
// A store that discards an upload whose reader fails (blobrepo.Store.Put)
// thus never keeps a payload that fails. Close stops the reading.
func Copy(ctx context.Context, p *Params, src Source, r *release.Release, binary bool) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := payloadAtRate(ctx, p, src, r, io.Discard, how{tee: pw, noDecode: !binary})
		if err == nil {
			err = io.EOF
		}
		pw.CloseWithError(err)
	}()
	return &copyReader{pr: pr, cancel: cancel, done: done}
}

type copyReader struct {
	pr     *io.PipeReader
	cancel context.CancelFunc
	done   chan struct{}
}

func (c *copyReader) Read(p []byte) (int, error) { return c.pr.Read(p) }

func (c *copyReader) Close() error {
	c.cancel()
	c.pr.Close()
	<-c.done
	return nil
}

func payloadAtRate(ctx context.Context, p *Params, src Source, r *release.Release, w io.Writer, h how) error {
	path, _ := r.PayloadPath()
	return atMinRate(ctx, p, path, r.CompressedSize, func(ctx context.Context) error {
		return download(ctx, p, src, r, w, h)
	})
}

// atMinRate runs fetch, the transfer of size bytes of path (0: an unsigned
// legacy release that does not say), under the deadline Payload
// describes: the stall timeout plus size at the minimum rate.
func atMinRate(ctx context.Context, p *Params, path string, size int64, fetch func(context.Context) error) error {
	if size == 0 {
		size = limits.BinarySize
	}
	rate := int64(DefaultMinRate)
	if p != nil && p.MinRate > 0 {
		rate = p.MinRate
	}
	d := p.stall()
	if secs := float64(size) / float64(rate); secs < float64(math.MaxInt64/2)/float64(time.Second) {
		d += time.Duration(secs * float64(time.Second))
	} else {
		d = math.MaxInt64 / 2
	}
	slow := &slowError{rate: rate, after: d}
	dctx, cancel := context.WithTimeoutCause(ctx, d, slow)
	defer cancel()
	err := fetch(dctx)
	if err != nil && ctx.Err() == nil && context.Cause(dctx) == error(slow) {
		return &FetchError{Path: path, Err: slow}
	}
	return err
}
