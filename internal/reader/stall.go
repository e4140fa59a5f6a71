package reader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrStalled is wrapped by the error of a read that was cut because it made
// no progress for the stall timeout (slow retrieval).
var ErrStalled = errors.New("stalled")

// stallError reports a transfer that received nothing for a while.
type stallError struct{ d time.Duration }

func (e *stallError) Error() string {
	return fmt.Sprintf("no data received for %v, giving up (stalled; see StallTimeout)", e.d)
}

// Is makes a stall ErrStalled, and a kind of timeout for callers that
// check for one.
func (e *stallError) Is(target error) bool {
	return target == ErrStalled || target == context.DeadlineExceeded
}

// watchdog cancels a transfer's context when the transfer has made no
// progress for d: from the start until the first byte, and between any two
// reads that return data. It protects callers whose ctx has no deadline from
// a server that stalls or trickles (slow retrieval).
type watchdog struct {
	ctx    context.Context
	d      time.Duration
	timer  *time.Timer
	cancel context.CancelCauseFunc
}

// newWatchdog starts a watchdog; the caller must call stop.
func newWatchdog(parent context.Context, d time.Duration) *watchdog {
	ctx, cancel := context.WithCancelCause(parent)
	w := &watchdog{ctx: ctx, d: d, cancel: cancel}
	w.timer = time.AfterFunc(d, func() { cancel(&stallError{d: d}) })
	return w
}

func (w *watchdog) stop() {
	w.timer.Stop()
	w.cancel(context.Canceled)
}

// A Watchdog guards an operation that is not a read of a Source (a
// bucket's HEAD or listing, say) as the reads are guarded: it cancels
// Context once Renew has not been called for the stall timeout.
type Watchdog struct{ w *watchdog }

// Watch starts a Watchdog; the caller must call Stop.
func Watch(ctx context.Context, p *Params) *Watchdog {
	return &Watchdog{newWatchdog(ctx, p.stall())}
}

// Context is the context to run the guarded operation with.
func (w *Watchdog) Context() context.Context { return w.w.ctx }

// Renew records progress: the stall timeout starts again.
func (w *Watchdog) Renew() { w.w.timer.Reset(w.w.d) }

// Explain returns err, or an error wrapping ErrStalled when the watchdog
// is what stopped the operation.
func (w *Watchdog) Explain(err error) error { return w.w.explain(err) }

// Stop releases the watchdog.
func (w *Watchdog) Stop() { w.w.stop() }

// explain replaces err, which a transfer returned, by the stall error when
// the watchdog is what stopped the transfer.
func (w *watchdog) explain(err error) error {
	var se *stallError
	if err != nil && errors.As(context.Cause(w.ctx), &se) {
		return se
	}
	return err
}

// reader returns r, fed to the watchdog: every read that returns data
// rearms it, and once the context is done every read fails.
func (w *watchdog) reader(r io.Reader) io.Reader { return &watchedReader{w: w, r: r} }

type watchedReader struct {
	w *watchdog
	r io.Reader
}

func (wr *watchedReader) Read(p []byte) (int, error) {
	if err := wr.w.ctx.Err(); err != nil {
		return 0, wr.w.explain(err)
	}
	n, err := wr.r.Read(p)
	if n > 0 {
		wr.w.timer.Reset(wr.w.d)
	}
	if err != nil && err != io.EOF {
		err = wr.w.explain(err)
	}
	return n, err
}
