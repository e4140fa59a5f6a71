package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/trust"
)

// resolveChannel reads and verifies channels/NAME.json with root's
// timestamp keys, records its version in the TrustStore, and returns the
// release version it points to. Nothing of the channel is acted on before
// its signatures, name, expiry and version are verified.
func resolveChannel(ctx context.Context, c *config, src Source, root *trust.Root) (string, error) {
	path, err := channel.Path(c.channel)
	if err != nil {
		return "", fmt.Errorf("apply: %w", err)
	}
	data, err := fetchSmall(ctx, c, src, path, limits.ChannelJSON)
	if err != nil {
		return "", err
	}
	ch, err := channel.Parse(data)
	if err != nil {
		return "", channelError(path, err)
	}
	st := store{dir: c.store}
	seen, err := st.loadChannels()
	if err != nil {
		return "", err
	}
	keys := root.Timestamp().IDs()
	prev, known := seen[c.channel]
	sameKeys := known && slices.Equal(prev.TimestampKeys, keys)
	var last int64
	if sameKeys {
		last = prev.Seq
	} else if known {
		c.logger.Info("apply: the timestamp keys changed: forgetting the channel version seen", "channel", c.channel, "seen", prev.Seq)
	}
	if err := ch.Verify(root.Timestamp(), time.Now(), c.channel, last); err != nil {
		return "", channelError(path, err)
	}
	if !sameKeys || ch.Seq() != last {
		seen[c.channel] = channelState{Seq: ch.Seq(), TimestampKeys: keys}
		if err := st.saveChannels(seen); err != nil {
			return "", err
		}
	}
	c.logger.Info("apply: channel verified", "channel", c.channel, "release", ch.Release(), "seq", ch.Seq(), "expires", ch.Expires())
	if !ch.HasPlatform(c.goos, c.goarch) {
		return "", fmt.Errorf("%w: %s: channel %q (release %s) does not cover %s/%s", ErrMetadata, path, c.channel, ch.Release(), c.goos, c.goarch)
	}
	if c.current != "" && !c.allowDowngrade {
		if cmp, _ := release.CompareVersions(ch.Release(), c.current); cmp < 0 {
			return "", fmt.Errorf("%w: channel %q points to %s, %s is installed", ErrDowngrade, c.channel, ch.Release(), c.current)
		}
	}
	return ch.Release(), nil
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
	return fmt.Errorf("%w: %s: %w", sentinel, path, err)
}
