// Package payload is the one rule for payload names and the one decoder of
// payloads, for the client (apply) and the publisher's tools (repotool)
// alike, so that a payload repotool approves is one every client installs:
// NAME.bz2 is bzip2 and NAME.zst is zstd, and nothing else is either.
//
// Memory is bounded whatever the payload holds: the bzip2 reader
// (internal/pbzip2) keeps a fixed window of segments, and the zstd decoder
// refuses frames whose window exceeds limits.ZstdWindow. The decoders do
// not bound the output: callers limit it to the signed size.
package payload

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/pbzip2"
)

// ErrUnknownFormat is returned by FormatOf for a name that is neither
// NAME.bz2 nor NAME.zst.
var ErrUnknownFormat = errors.New("unknown compression")

// Format is how a payload is compressed.
type Format int

const (
	Bzip2 Format = iota + 1
	Zstd
)

func (f Format) String() string {
	if f == Zstd {
		return "zstd"
	}
	return "bzip2"
}

// FormatOf returns how the payload named binary (a release's binary
// member) is compressed: NAME.bz2 is bzip2, NAME.zst is zstd, suffixes in
// lower case only. Any other name is refused (ErrUnknownFormat).
func FormatOf(binary string) (Format, error) {
	switch {
	case strings.HasSuffix(binary, ".bz2") && len(binary) > len(".bz2"):
		return Bzip2, nil
	case strings.HasSuffix(binary, ".zst") && len(binary) > len(".zst"):
		return Zstd, nil
	}
	return 0, fmt.Errorf("payload %q: %w, want NAME.bz2 (bzip2) or NAME.zst (zstd)", binary, ErrUnknownFormat)
}

// NewDecoder returns a reader of the payload decompressed from r, and a
// function that stops the decoder and releases its memory. workers bounds
// the goroutines that decode a bzip2 payload.
func NewDecoder(f Format, r io.Reader, workers int) (io.Reader, func(), error) {
	if f == Zstd {
		d, err := zstd.NewReader(r,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(limits.ZstdWindow),
			zstd.WithDecoderMaxMemory(limits.ZstdWindow))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd decoder: %w", err)
		}
		return d, d.Close, nil
	}
	d, err := pbzip2.NewReader(r, pbzip2.Workers(workers))
	if err != nil {
		return nil, nil, fmt.Errorf("bzip2 decoder: %w", err)
	}
	return d, func() { d.Close() }, nil
}

// TooLarge reports whether err, from reading a decoder, says that the
// payload needs more memory than the decoder allows.
func TooLarge(err error) bool {
	return errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded)
}
