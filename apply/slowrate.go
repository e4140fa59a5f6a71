package apply

import (
	"context"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/release"
)

// defaultMinRate is the slowest average rate, in bytes per second, at
// which a payload may arrive (MinimumRate). It belongs with the other
// bounds in internal/limits.
const defaultMinRate = 8 << 10

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

// downloadAtRate is download with a deadline: the stall timeout (time to
// start) plus the signed compressed size at the minimum rate. The stall
// watchdog alone cannot stop a server that trickles a byte just before
// each stall timeout; this deadline does, whether or not ctx has one.
func downloadAtRate(ctx context.Context, c *config, src Source, r *release.Release, f *os.File) error {
	size := r.CompressedSize
	if size == 0 {
		size = limits.BinarySize // an unsigned legacy release does not say
	}
	rate := c.minRate
	if rate == 0 {
		rate = defaultMinRate
	}
	d := c.stall
	if secs := float64(size) / float64(rate); secs < float64(math.MaxInt64/2)/float64(time.Second) {
		d += time.Duration(secs * float64(time.Second))
	} else {
		d = math.MaxInt64 / 2
	}
	slow := &slowError{rate: rate, after: d}
	dctx, cancel := context.WithTimeoutCause(ctx, d, slow)
	defer cancel()
	err := download(dctx, c, src, r, f)
	if err != nil && ctx.Err() == nil && context.Cause(dctx) == error(slow) {
		return fmt.Errorf("apply: %w", slow)
	}
	return err
}
