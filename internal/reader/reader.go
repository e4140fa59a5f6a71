// Package reader is the one reader of repositories, for the client
// (package apply) and the publisher's tools (repotool) alike: the sources
// (HTTP with its client policy, a local directory; buckets through
// apply/blobsource), bounded and stall-guarded reads of metadata, and the
// payload pipeline that streams, decodes, bounds and hashes a payload
// against its signed release. Whatever repotool approves is therefore
// checked by the very code every client runs, and a check cannot drift
// between the two.
//
// Nothing read from a Source is trusted: every read is bounded in size and
// time (see Params), and a payload is accepted only when its compressed
// and decompressed sizes and sha256 sums are those the verified release
// signs.
//
// Errors wrap the sentinels below, so that callers classify them alike.
// Messages carry no package prefix: apply and repotool put their own.
package reader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/trust"
)

var (
	// ErrNotFound means the repository has no such file (HTTP 404).
	ErrNotFound = errors.New("not found in the repository")
	// ErrForbidden means the repository refused to serve a file (HTTP 403,
	// a bucket's permission denied).
	ErrForbidden = errors.New("the repository refused access")
	// ErrRangeUnsupported is returned by a Source asked to start at an
	// offset it cannot seek to.
	ErrRangeUnsupported = errors.New("source cannot resume at an offset")
	// ErrChecksum means the payload's hash or size is not what was signed,
	// or the payload is not valid bzip2 (or zstd).
	ErrChecksum = errors.New("payload does not match the signed release")
	// ErrMetadata means release.json is malformed, or its signed version,
	// os, arch or binary name is not what was asked for.
	ErrMetadata = errors.New("release metadata rejected")
	// ErrTooLarge means metadata or a payload is larger than its limit or
	// its signed size.
	ErrTooLarge = errors.New("larger than allowed")
)

// FetchError reports that the repository could not be read: the file
// could not be opened (other than ErrNotFound), or its stream failed
// (a dropped connection, a stall, the minimum rate). It says nothing
// about what the repository holds, unlike ErrChecksum or ErrMetadata.
type FetchError struct {
	Path string
	Err  error
}

func (e *FetchError) Error() string { return fmt.Sprintf("fetching %s: %v", e.Path, e.Err) }
func (e *FetchError) Unwrap() error { return e.Err }

// Params are the bounds and hooks of reads. The zero value is usable.
type Params struct {
	// Stall is how long a read may make no progress: from the request
	// until the first byte, and between reads that return data. Zero
	// means limits.StallTimeout.
	Stall time.Duration
	// MinRate is the slowest average rate, in bytes per second, at which
	// a payload may arrive. Zero means DefaultMinRate.
	MinRate int64
	// Progress, when not nil, is called as the binary is written.
	Progress func(done, total int64)
	// Logger, when not nil, gets debug messages.
	Logger *slog.Logger
}

func (p *Params) stall() time.Duration {
	if p == nil || p.Stall <= 0 {
		return limits.StallTimeout
	}
	return p.Stall
}

func (p *Params) logger() *slog.Logger {
	if p == nil || p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Logger
}

// Metadata reads a metadata file of at most limit bytes, with a deadline
// (limits.RequestTimeout) and a stall watchdog; a larger one is
// ErrTooLarge and the rest of it is never read. A missing file is an error
// wrapping ErrNotFound; a repository that cannot be read, a *FetchError.
func Metadata(ctx context.Context, p *Params, src Source, path string, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, limits.RequestTimeout)
	defer cancel()
	w := newWatchdog(ctx, p.stall())
	defer w.stop()
	p.logger().Debug("fetching", "path", path)
	rc, err := src.Open(w.ctx, path, 0)
	if err != nil {
		return nil, openError(path, w.explain(err))
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(w.reader(rc), limit+1))
	if err != nil {
		return nil, &FetchError{Path: path, Err: w.explain(err)}
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrTooLarge, path, limit)
	}
	return data, nil
}

// Stream opens path for reading under the stall watchdog, resuming where
// the stream failed as Payload does; size is the signed size, or 0. The
// bytes are not checked: the caller must (see Payload). Close ends the
// watchdog.
func Stream(ctx context.Context, p *Params, src Source, path string, size int64) (io.ReadCloser, error) {
	w := newWatchdog(ctx, p.stall())
	rc, err := openPayload(w, src, path, size)
	if err != nil {
		w.stop()
		return nil, err
	}
	return &stream{r: rc, w: w, path: path}, nil
}

type stream struct {
	r    *resumer
	w    *watchdog
	path string
}

func (s *stream) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = &FetchError{Path: s.path, Err: err}
	}
	return n, err
}

func (s *stream) Close() error {
	err := s.r.Close()
	s.w.stop()
	return err
}

// openError is err from opening path: ErrNotFound and ErrForbidden (what
// the repository says of this file) as they are, anything else (it could
// not be asked) a *FetchError.
func openError(path string, err error) error {
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrForbidden) {
		return err
	}
	var fe *FetchError
	if errors.As(err, &fe) {
		return err
	}
	return &FetchError{Path: path, Err: err}
}

// RootFetch reads the roots of src for trust.Walk and trust.WalkTo:
// N.root.json, at most limits.RootJSON bytes (Metadata). A missing root,
// and one the repository refuses to serve (ErrForbidden: S3 answers 403
// for a missing key to a reader without list permission), is
// trust.ErrNoRoot: the end of the chain for Walk, a gap for WalkTo. A
// repository that refuses a root could as well say it is missing, so this
// trusts nothing a 404 would not. Every other refusal stays an error. The
// error keeps the reader's message.
func RootFetch(p *Params, src Source) trust.Fetch {
	return func(ctx context.Context, v int64) ([]byte, error) {
		data, err := Metadata(ctx, p, src, trust.RootFileName(v), limits.RootJSON)
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrForbidden) {
			return nil, noRoot{err}
		}
		return data, err
	}
}

// noRoot is an error that is also trust.ErrNoRoot.
type noRoot struct{ err error }

func (e noRoot) Error() string   { return e.err.Error() }
func (e noRoot) Unwrap() []error { return []error{e.err, trust.ErrNoRoot} }
