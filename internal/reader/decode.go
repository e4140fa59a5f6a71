package reader

import (
	"fmt"
	"io"
	"runtime"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/payload"
)

// maxBzip2Workers bounds how many goroutines decode a bzip2 payload (of
// one stream or many); each adds a few MiB. It is a choice of speed, not a
// bound on untrusted input.
const maxBzip2Workers = 2

// bzip2Workers uses two cores when there are two: on an idle 2-core
// machine (bench/run.sh, medians of 3) a 100 MiB payload applied in 1.87 s
// with two workers against 2.82 s with one (lbzip2 -dc -n2: 2.30 s), for
// about 6 MiB more peak RSS (26.8 and 31.9 MiB for 100 and 512 MiB).
func bzip2Workers() int { return max(1, min(runtime.GOMAXPROCS(0), maxBzip2Workers)) }

// CheckPayloadName refuses a release whose binary member names a payload
// that Payload refuses (see payloadFormat), before anything is read.
func CheckPayloadName(binary string) error {
	_, err := payloadFormat(binary)
	return err
}

// payloadFormat returns how the payload named binary (the signed release's
// binary field) is compressed, by the rule repotool applies too
// (internal/payload). Any other name is refused before anything is
// downloaded.
func payloadFormat(binary string) (payload.Format, error) {
	f, err := payload.FormatOf(binary)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrMetadata, err)
	}
	return f, nil
}

// newDecoder returns the one payload decoder (internal/payload).
func newDecoder(f payload.Format, r io.Reader) (io.Reader, func(), error) {
	d, closeD, err := payload.NewDecoder(f, r, bzip2Workers())
	if err != nil {
		return nil, nil, err
	}
	return d, closeD, nil
}

// decodeError reports a payload that the decoder refused, after its signed
// compressed hash and size were found right: a publisher's mistake, or a
// payload that needs more memory than Apply allows.
func decodeError(f payload.Format, path string, err error) error {
	if payload.TooLarge(err) {
		return fmt.Errorf("%w: %s needs a zstd window larger than %d MiB: %v", ErrTooLarge, path, limits.ZstdWindow>>20, err)
	}
	return fmt.Errorf("%w: %s is not valid %v: %v", ErrChecksum, path, f, err)
}
