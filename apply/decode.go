package apply

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/pbzip2"
)

// maxBzip2Workers bounds how many goroutines decode a bzip2 payload made
// of several streams (pbzip2's layout); each adds a few MiB. It is a
// choice of speed, not a bound on untrusted input.
const maxBzip2Workers = 2

// bzip2Workers uses two cores when there are two: on an idle 2-core
// machine (bench/run.sh, medians of 3) a 100 MiB payload applied in 1.87 s
// with two workers against 2.82 s with one (lbzip2 -dc -n2: 2.30 s), for
// about 6 MiB more peak RSS (26.8 and 31.9 MiB for 100 and 512 MiB).
func bzip2Workers() int { return max(1, min(runtime.GOMAXPROCS(0), maxBzip2Workers)) }

// format is how a payload is compressed.
type format int

const (
	formatBzip2 format = iota + 1
	formatZstd
)

func (f format) String() string {
	if f == formatZstd {
		return "zstd"
	}
	return "bzip2"
}

// payloadFormat returns how the payload named binary (the signed release's
// binary field) is compressed: NAME.bz2 is bzip2, NAME.zst is zstd. Any
// other name is refused before anything is downloaded.
func payloadFormat(binary string) (format, error) {
	switch {
	case strings.HasSuffix(binary, ".bz2") && len(binary) > len(".bz2"):
		return formatBzip2, nil
	case strings.HasSuffix(binary, ".zst") && len(binary) > len(".zst"):
		return formatZstd, nil
	}
	return 0, fmt.Errorf("%w: payload %q: unknown compression, want NAME.bz2 (bzip2) or NAME.zst (zstd)", ErrMetadata, binary)
}

// newDecoder returns a reader of the payload decompressed from r, and a
// function that stops the decoder and releases its memory. Memory is
// bounded whatever r holds: pbzip2 holds a fixed window of segments, and
// the zstd decoder refuses frames whose window exceeds limits.ZstdWindow.
func newDecoder(f format, r io.Reader) (io.Reader, func(), error) {
	if f == formatZstd {
		d, err := zstd.NewReader(r,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(limits.ZstdWindow),
			zstd.WithDecoderMaxMemory(limits.ZstdWindow))
		if err != nil {
			return nil, nil, fmt.Errorf("apply: zstd decoder: %w", err)
		}
		return d, d.Close, nil
	}
	d, err := pbzip2.NewReader(r, pbzip2.Workers(bzip2Workers()))
	if err != nil {
		return nil, nil, fmt.Errorf("apply: bzip2 decoder: %w", err)
	}
	return d, func() { d.Close() }, nil
}

// decodeError reports a payload that the decoder refused, after its signed
// compressed hash and size were found right: a publisher's mistake, or a
// payload that needs more memory than Apply allows.
func decodeError(f format, path string, err error) error {
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return fmt.Errorf("%w: %s needs a zstd window larger than %d MiB: %v", ErrTooLarge, path, limits.ZstdWindow>>20, err)
	}
	return fmt.Errorf("%w: %s is not valid %v: %v", ErrChecksum, path, f, err)
}
