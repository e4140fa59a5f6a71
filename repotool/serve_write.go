package repotool

import (
	"io"
	"math"
	"net/http"
	"sync"
	"time"
)

// The response writer and request log of the repository server.

// countingWriter records the status and body size for the request log, and
// keeps a response from stalling for longer than stall (see
// serveWriteStall): the write deadline is renewed before the response,
// on Write unless it was renewed within the last 64th of stall, and before
// every piece that ReadFrom sends. It implements io.ReaderFrom by
// delegating, so that wrapping the ResponseWriter does not cost sendfile.
type countingWriter struct {
	http.ResponseWriter
	dl     writeDeadliner // the ResponseWriter itself or a ResponseController over it
	last   time.Time      // when the deadline was last renewed
	stall  time.Duration
	status int
	bytes  int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	// A deadline renewed within the last 64th of the stall bound (about
	// a second) still leaves nearly all of it; renewing it for every
	// small write would cost more than a metadata response itself.
	if time.Since(w.last) >= w.stall/64 {
		w.renewDeadline()
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom is the fast path: http.ServeContent copies the file with
// io.CopyN, which hands it here, and net/http passes it on to the TCP
// connection, which uses sendfile(2) on Linux, with no copy through user
// space. Wrapping Write alone would hide that path. A sendfile call cannot
// renew the deadline while it runs, so the file goes out in pieces of
// serveWritePiece bytes, each under a fresh deadline: a client that stops
// reading is still cut within the stall bound.
func (w *countingWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	lr, isLimited := src.(*io.LimitedReader)
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok || (isLimited && lr.N < serveWritePiece) {
		// Not every ResponseWriter has ReadFrom (HTTP/2, httptest's
		// recorder, wrappers). And a small body, metadata above all, is
		// cheaper buffered with the headers and sent in one write than
		// flushed after them and sent by sendfile. Copy through Write,
		// which renews the deadline.
		return io.Copy(writerOnly{w}, src)
	}
	// Unwrap a LimitedReader so that each piece is a LimitedReader
	// directly over the file, the only shape sendfile accepts.
	inner, remain := src, int64(math.MaxInt64)
	if isLimited {
		inner, remain = lr.R, lr.N
		defer func() { lr.N = remain }()
	}
	var total int64
	for remain > 0 {
		want := min(serveWritePiece, remain)
		w.renewDeadline()
		n, err := rf.ReadFrom(&io.LimitedReader{R: inner, N: want})
		total, remain, w.bytes = total+n, remain-n, w.bytes+n
		if err != nil || n < want { // n < want: the source has ended
			return total, err
		}
	}
	return total, nil
}

// renewDeadline pushes the write deadline stall into the future.
func (w *countingWriter) renewDeadline() {
	// Not every ResponseWriter supports deadlines (httptest's recorder,
	// some wrappers); without one the server's own timeouts still apply.
	w.last = time.Now()
	_ = w.dl.SetWriteDeadline(w.last.Add(w.stall))
}

// writeDeadliner is what net/http's ResponseWriter and
// http.ResponseController have in common.
type writeDeadliner interface {
	SetWriteDeadline(time.Time) error
}

// writerOnly hides every method of a writer but Write, so that io.Copy does
// not call ReadFrom back.
type writerOnly struct{ io.Writer }

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// lockedLog serializes writes, so that log lines from concurrent requests
// do not interleave.
type lockedLog struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// batchedLog collects log lines and writes them to w in one write at most
// serveLogDelay after the first of them (sooner once serveLogBatch bytes
// are waiting, and when Serve returns), so that a busy server makes one
// write per batch rather than one per request. Write errors are dropped, as
// a log line has nowhere else to go.
type batchedLog struct {
	mu     sync.Mutex
	w      io.Writer
	buf    []byte
	timer  *time.Timer // pending flush, nil when buf is empty
	closed bool        // after close, lines are written at once
}

func (l *batchedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	switch {
	case l.closed || len(l.buf) >= serveLogBatch:
		l.flushLocked()
	case l.timer == nil:
		l.timer = time.AfterFunc(serveLogDelay, l.flush)
	}
	return len(p), nil
}

func (l *batchedLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
}

func (l *batchedLog) flushLocked() {
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	if len(l.buf) > 0 {
		l.w.Write(l.buf)
		l.buf = l.buf[:0]
	}
}

// close writes what is waiting; later lines are written at once.
func (l *batchedLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	l.closed = true
}
