package apply

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/reader"
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
	// The one check of a channel, repotool's too.
	ch, err := reader.VerifyChannel(data, path, root.Timestamp(), c.channel, time.Now(), last)
	if err != nil {
		return "", err
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
	cmp := 1
	if c.current != "" {
		cmp, _ = release.CompareVersions(ch.Release(), c.current)
	}
	if cmp < 0 && !c.allowDowngrade {
		return "", fmt.Errorf("%w: channel %q points to %s, %s is installed", ErrDowngrade, c.channel, ch.Release(), c.current)
	}
	// A client already at the release has nothing to install, in the
	// rollout or not.
	if cmp != 0 {
		if err := checkRollout(c, ch); err != nil {
			return "", err
		}
	}
	return ch.Release(), nil
}

// checkRollout returns a *RolloutError when the verified channel ch
// offers its release to a share of clients that leaves this one out.
func checkRollout(c *config, ch *channel.Channel) error {
	if ch.Rollout() == channel.Full {
		return nil
	}
	id := c.rolloutID
	if id == "" {
		var err error
		if id, err = (store{dir: c.store}).rolloutID(); err != nil {
			return err
		}
	}
	if !ch.Offers(id) {
		c.logger.Info("apply: not in this rollout yet", "channel", ch.Name(), "release", ch.Release(), "rollout_percent", channel.FormatRollout(ch.Rollout()))
		return &RolloutError{Channel: ch.Name(), Version: ch.Release(), Rollout: ch.Rollout()}
	}
	c.logger.Info("apply: in this rollout", "channel", ch.Name(), "release", ch.Release(), "rollout_percent", channel.FormatRollout(ch.Rollout()))
	return nil
}
