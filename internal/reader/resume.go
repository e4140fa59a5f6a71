package reader

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/safeupdate/safeupdate/internal/limits"
)

// resumer reads a payload from a Source and, when the stream fails midway
// (a dropped connection, a read error), opens it again from the first byte
// not yet received, up to limits.Resumes times with a growing backoff. What it
// returns is one continuous stream; the caller's hashes over it decide
// whether the pieces fit together, so a source that sends other bytes on
// resumption is caught like any tampered payload.
//
// When the signed size is known and every byte of it has arrived, a failure
// ends the stream instead (the hashes decide), rather than asking for a
// range past the end.
//
// It does not resume when the watchdog's context is done (a stall, the
// minimum rate, the caller's ctx), when the stream ends cleanly (a short
// payload is the hashes' business), or when the source cannot open at an
// offset (ErrRangeUnsupported) or no longer has the file (ErrNotFound).
type resumer struct {
	w       *watchdog
	src     Source
	path    string
	rc      io.ReadCloser // nil between a failure and the next open
	in      io.Reader     // rc, fed to the watchdog
	size    int64         // the signed compressed size, or 0 when unknown
	off     int64         // bytes returned so far
	resumes int           // resumptions in a row without a byte received
	total   int           // resumptions in all
	lastErr error         // the failure that made rc nil
}

// openPayload opens path from its start; the caller must close the result.
// size is the signed compressed size, or 0 when unknown.
func openPayload(w *watchdog, src Source, path string, size int64) (*resumer, error) {
	rc, err := src.Open(w.ctx, path, 0)
	if err != nil {
		return nil, openError(path, w.explain(err))
	}
	return &resumer{w: w, src: src, path: path, size: size, rc: rc, in: w.reader(rc)}, nil
}

func (r *resumer) Read(p []byte) (int, error) {
	for {
		if r.rc == nil {
			if err := r.reopen(); err != nil {
				return 0, err
			}
		}
		n, err := r.in.Read(p)
		r.off += int64(n)
		if n > 0 {
			r.resumes = 0
		}
		if err == nil || err == io.EOF || r.w.ctx.Err() != nil {
			return n, err
		}
		r.rc.Close()
		r.rc, r.lastErr = nil, err
		if r.size > 0 && r.off >= r.size {
			return n, io.EOF
		}
		if n > 0 {
			return n, nil
		}
	}
}

// reopen opens the payload again at r.off, after a backoff.
func (r *resumer) reopen() error {
	for {
		if r.resumes >= limits.Resumes || r.total >= limits.TotalResumes {
			return fmt.Errorf("giving up after the stream failed %d times, at byte %d: %w", r.total+1, r.off, r.lastErr)
		}
		t := time.NewTimer(limits.ResumeBackoff << r.resumes)
		select {
		case <-r.w.ctx.Done():
			t.Stop()
			return r.w.explain(r.w.ctx.Err())
		case <-t.C:
		}
		r.resumes++
		r.total++
		rc, err := r.src.Open(r.w.ctx, r.path, r.off)
		switch {
		case err == nil:
			r.rc, r.in = rc, r.w.reader(rc)
			return nil
		case r.w.ctx.Err() != nil:
			return r.w.explain(err)
		case errors.Is(err, ErrRangeUnsupported), errors.Is(err, ErrNotFound):
			return fmt.Errorf("cannot resume at byte %d after the stream failed (%v): %w", r.off, r.lastErr, err)
		}
		r.lastErr = err
	}
}

func (r *resumer) Close() error {
	if r.rc == nil {
		return nil
	}
	return r.rc.Close()
}
