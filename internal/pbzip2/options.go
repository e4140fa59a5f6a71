package pbzip2

import (
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"runtime"
)

// ErrClosed is returned by Read, Write and Close after Close.
var ErrClosed = errors.New("pbzip2: closed")

// ErrCorrupt is matched (with errors.Is) by every error that reports
// invalid or truncated bzip2 data.
var ErrCorrupt = errors.New("pbzip2: invalid bzip2 data")

// A CorruptError reports invalid or truncated bzip2 data.
type CorruptError struct {
	Reason string // what is wrong, in compress/bzip2's words
	Err    error  // io.ErrUnexpectedEOF if the data is truncated, else nil
}

func (e *CorruptError) Error() string { return "pbzip2: invalid bzip2 data: " + e.Reason }

func (e *CorruptError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrCorrupt}
	}
	return []error{ErrCorrupt, e.Err}
}

// publicError turns a decoder error into what Reader returns.
func publicError(err error) error {
	var se bzip2.StructuralError
	switch {
	case err == io.EOF || errors.Is(err, ErrClosed) || errors.Is(err, errLost):
		return err
	case errors.As(err, &se):
		return &CorruptError{Reason: string(se)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &CorruptError{Reason: "unexpected end of data", Err: io.ErrUnexpectedEOF}
	default:
		return fmt.Errorf("pbzip2: reading input: %w", err)
	}
}

// An Option configures a Reader or a Writer.
type Option func(*config) error

type config struct {
	workers int
	segSize int // Reader: bytes of compressed input per segment at most
	outSize int // Reader: bytes a worker decodes from one segment at most
}

// Workers sets how many goroutines compress or decompress in parallel. The
// default is runtime.GOMAXPROCS(0). Memory grows with n (see NewReader and
// NewWriter).
func Workers(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 256 {
			return fmt.Errorf("pbzip2: workers %d out of range [1, 256]", n)
		}
		c.workers = n
		return nil
	}
}

func newConfig(opts []Option) (config, error) {
	c := config{workers: runtime.GOMAXPROCS(0), segSize: maxSegment, outSize: maxOutput}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return config{}, err
		}
	}
	return c, nil
}
