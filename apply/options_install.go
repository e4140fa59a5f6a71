package apply

import (
	"context"
	"errors"
	"fmt"
)

// ErrPreInstallCheck means the function given to PreInstallCheck rejected
// the new binary; the target was not touched.
var ErrPreInstallCheck = errors.New("apply: the new binary failed the pre-install check")

// preInstallFunc is the type of PreInstallCheck's function.
type preInstallFunc = func(ctx context.Context, path string) error

// PreInstallCheck sets a function that Apply runs on the new binary after
// it is verified and before it replaces the target, for example running
// `path --version` and checking the output. path is the new binary,
// complete, fsynced and closed, with the target's mode, owner and
// attributes, in the target's directory under a temporary name; fn must not
// move or keep it. If fn returns an error, Apply stops with an error
// wrapping ErrPreInstallCheck and fn's error, removes the new binary and
// leaves the target untouched. fn gets Apply's ctx and runs while the
// target's lock is held.
//
// It guards against a validly signed binary that does not run here (a
// missing shared library, a wrong build); it cannot guard against bugs the
// check does not exercise.
func PreInstallCheck(fn func(ctx context.Context, path string) error) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("apply: PreInstallCheck: nil function")
		}
		c.preInstall = fn
		return nil
	}
}

// MinimumRate sets the slowest average rate, in bytes per second, at which
// the payload may arrive: the download fails (an error wrapping
// context.DeadlineExceeded) once it has taken longer than StallTimeout plus
// the signed compressed size at this rate. The default is 8 KiB/s. With
// StallTimeout, which stops a download that receives nothing for a while,
// it bounds the slow-retrieval attack even when ctx has no deadline: a
// server trickling a byte just before each stall timeout could otherwise
// hold Apply for days.
func MinimumRate(bytesPerSecond int64) Option {
	return func(c *config) error {
		if bytesPerSecond < 1 {
			return fmt.Errorf("apply: MinimumRate %d: want at least 1 byte per second", bytesPerSecond)
		}
		c.minRate = bytesPerSecond
		return nil
	}
}
