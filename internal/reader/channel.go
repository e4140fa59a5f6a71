package reader

import (
	"errors"
	"fmt"
	"time"

	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/trust"
)

var (
	// ErrExpired means the trust root or the channel has expired: a
	// repository is serving stale signed metadata (the freeze attack), or
	// its publisher has not re-signed it in time.
	ErrExpired = errors.New("trust metadata has expired")
	// ErrReplay means a channel is older than one already seen: a replay
	// of an older signed state.
	ErrReplay = errors.New("channel is older than one already seen")
)

// VerifyChannel is the one check of a channel file, data, read from path
// (named in errors unless ""), that clients and repotool make: it parses strictly and verifies the
// signatures against the channel keys ts, the name, the expiry at now and
// that its version is at least last (0: none seen). Errors wrap
// ErrSignature, ErrExpired, ErrReplay, ErrMetadata or ErrTooLarge, and
// the error of package channel.
func VerifyChannel(data []byte, path string, ts trust.Verifier, name string, now time.Time, last int64) (*channel.Channel, error) {
	ch, err := channel.Parse(data)
	if err != nil {
		return nil, channelError(path, err)
	}
	if err := ch.Verify(ts, now, name, last); err != nil {
		return nil, channelError(path, err)
	}
	return ch, nil
}

// VerifyChannelAnyAge is VerifyChannel as of just before the channel's
// expiry and with no version seen: for a publisher, an expired channel is
// still one to number from, refresh or copy; a tampered one is not.
func VerifyChannelAnyAge(data []byte, path string, ts trust.Verifier, name string) (*channel.Channel, error) {
	ch, err := channel.Parse(data)
	if err != nil {
		return nil, channelError(path, err)
	}
	if err := ch.Verify(ts, ch.Expires().Add(-time.Second), name, 0); err != nil {
		return nil, channelError(path, err)
	}
	return ch, nil
}

// channelError maps an error of package channel to this package's
// sentinels.
func channelError(path string, err error) error {
	var sentinel error
	switch {
	case errors.Is(err, channel.ErrTooLarge):
		sentinel = ErrTooLarge
	case errors.Is(err, channel.ErrUnsigned), errors.Is(err, trust.ErrThreshold):
		sentinel = ErrSignature
	case errors.Is(err, channel.ErrExpired):
		sentinel = ErrExpired
	case errors.Is(err, channel.ErrReplay):
		sentinel = ErrReplay
	default: // channel.ErrMalformed, channel.ErrMismatch
		sentinel = ErrMetadata
	}
	if path == "" {
		return fmt.Errorf("%w: %w", sentinel, err)
	}
	return fmt.Errorf("%w: %s: %w", sentinel, path, err)
}
