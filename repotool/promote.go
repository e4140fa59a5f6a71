package repotool

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/reader"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/trust"
)

// PromoteConfig configures Promote.
type PromoteConfig struct {
	// Repo is the repository, a directory or a file://, s3://, gs:// or
	// azblob:// URL; it must have a root.json.
	Repo string
	// Channel is the channel's name, such as "stable".
	Channel string
	// Version is the release the channel is to point to. Required, unless
	// Refresh.
	Version string
	// Refresh re-signs the existing channel unchanged but for its own
	// version (one more) and its expiry; its rollout is kept. Version and
	// Rollout must then be empty.
	Refresh bool
	// Rollout is the share of clients the channel offers Version to, a
	// percentage from "0" (paused) to "100" with at most four decimals
	// (channel.ParseRollout); "" is "100". Below 100 the channel is a
	// staged one (channel.TypeStaged), which clients that predate rollouts
	// refuse rather than update every machine. Raising it is another
	// Promote of the same version with a higher share.
	Rollout string
	// Expires is when the channel expires. Required, in the future.
	Expires time.Time
	// Keys sign the channel; each must be a channel (timestamp) key of the
	// current root, and together they must meet its threshold.
	Keys []crypto.Signer
	// Pin is the publisher's pin directory (see ErrPin): the current root
	// is reached from the root pinned there, and the channel's version is
	// recorded there, so that a channel rolled back in storage is refused
	// rather than numbered from. Required.
	Pin string

	// beforeWrite, when not nil, runs just before the channel is written:
	// tests change it there, as another promote would.
	beforeWrite func()
}

// PromoteResult says what Promote wrote.
type PromoteResult struct {
	Channel  *channel.Channel // the channel as written
	Path     string           // Repo/channels/NAME.json (a URL for a bucket)
	Previous *channel.Channel // the channel file it replaced, verified (expiry aside), or nil
	Root     int64            // the version of the root it was checked against
	// Skipped are the platforms of Version whose release does not verify
	// against the current root's release keys; the channel leaves them out.
	Skipped []Result
}

// Promote writes Repo/channels/NAME.json, a signed pointer from a channel
// to a release version, for clients that follow the channel rather than
// name a version. Its own version is one more than the highest of the
// channel file in storage, which must verify against the root's channel
// keys (expiry aside), and the version recorded in cfg.Pin (1 for a new
// channel), so clients that saw the old one accept the new one and refuse
// a replay of the old. A channel in storage older than the pin's record
// (storage rolled back) or one that does not verify is refused (ErrPin):
// numbering from it would write a version clients refuse.
//
// The current root (root.json, or a newer N.root.json) must be unexpired.
// The channel lists the platforms of cfg.Version whose release verifies
// against that root's release keys (targets role), as a client would check
// it, payload included; there must be at least one (ErrNoRelease). With
// cfg.Refresh the release, platforms and rollout are those of the existing channel,
// which must verify against the root's channel keys (expiry aside), and
// each of its releases must still verify. Each of cfg.Keys must be a
// channel key of the root (ErrNotInRole), and the signed channel must meet
// the root's channel threshold (an error wrapping trust.ErrThreshold).
// Nothing is written unless every check passes; the file is replaced
// atomically, and only if nobody changed it since it was read
// (ErrConflict otherwise: two promotions at once cannot both win).
func Promote(ctx context.Context, cfg PromoteConfig) (*PromoteResult, error) {
	const op = "promote"
	fail := func(format string, args ...any) (*PromoteResult, error) {
		return nil, fmt.Errorf("repotool: promote: "+format, args...)
	}
	if cfg.Repo == "" {
		return fail("no repository directory given")
	}
	if len(cfg.Keys) == 0 {
		return fail("no key to sign the channel with")
	}
	relPath, err := channel.Path(cfg.Channel)
	if err != nil {
		return fail("%s", trimChannel(err))
	}
	switch {
	case cfg.Refresh && cfg.Version != "":
		return fail("a refresh keeps the channel's version; give a version or refresh, not both")
	case cfg.Refresh && cfg.Rollout != "":
		return fail("a refresh keeps the channel's rollout; give a version to change it")
	case !cfg.Refresh:
		if err := release.ValidVersion(cfg.Version); err != nil {
			return fail("%s", trimPrefix(err))
		}
	}
	if err := checkExpires(cfg.Expires); err != nil {
		return fail("%v", err)
	}
	rollout := int64(channel.Full)
	if cfg.Rollout != "" {
		if rollout, err = channel.ParseRollout(cfg.Rollout); err != nil {
			return fail("%s", trimChannel(err))
		}
	}
	p, err := loadPin(op, cfg.Pin)
	if err != nil {
		return nil, err
	}
	s, err := openStore(ctx, cfg.Repo, true, false, nil)
	if err != nil {
		return fail("%w", err)
	}
	defer s.Close()
	root, err := pinnedRoot(ctx, s, op, p)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if err := root.CheckExpiry(now); err != nil {
		return nil, errorf(err, "repotool: promote: %s; clients refuse everything until a rotation extends it", trimPrefix(err))
	}
	ts := root.Timestamp()
	for _, k := range cfg.Keys {
		id, err := keys.ID(k.Public())
		if err != nil {
			return fail("%s", trimPrefix(err))
		}
		if !slices.Contains(ts.IDs(), id) {
			return nil, errorf(ErrNotInRole, "repotool: promote: key %s is not a channel (timestamp) key of root version %d", id, root.Version())
		}
	}
	res := &PromoteResult{Path: s.pathOf(relPath), Root: root.Version()}
	data, tok, err := s.readTokened(ctx, relPath, limits.ChannelJSON)
	switch {
	case errors.Is(err, ErrNotFound):
		if cfg.Refresh {
			return nil, errorf(ErrNotFound, "repotool: promote: no channel %q to refresh in %s", cfg.Channel, s.name)
		}
	case err != nil:
		return fail("%s: %v", relPath, err)
	default:
		if res.Previous, err = verifiedChannel(data, ts, cfg.Channel); err != nil {
			return nil, errorf(ErrPin, "repotool: promote: %s in %s does not verify against the channel keys of root version %d: %s; remove it (the pin %s keeps the numbering)", relPath, s.name, root.Version(), err, cfg.Pin)
		}
	}
	recorded := p.channels[cfg.Channel]
	// A channel missing from storage is numbered past the record, which
	// every client accepts.
	switch {
	case res.Previous != nil && res.Previous.Seq() < recorded:
		return nil, errorf(ErrPin, "repotool: promote: %s in %s is channel version %d, but version %d was written from here (pin %s): storage was rolled back; clients that saw version %d refuse anything older", relPath, s.name, res.Previous.Seq(), recorded, cfg.Pin, recorded)
	}

	version := cfg.Version
	var platforms []string
	rd, ok := s.rd.(lister)
	if !ok {
		return fail("%s cannot be listed", s.name)
	}
	if cfg.Refresh {
		old := res.Previous
		version, platforms, rollout = old.Release(), old.Platforms(), old.Rollout()
		for _, p := range platforms {
			r, err := verifyOne(ctx, rd, root.Targets(), version+"/"+p)
			if err == nil && !r.OK {
				err = errors.New(r.Error)
			}
			if err != nil {
				return fail("release %s/%s no longer verifies: %s; promote a version instead of refreshing", version, p, trimPrefix(err))
			}
		}
	} else {
		dirs, err := rd.releaseDirs(ctx, version)
		if err != nil {
			return fail("%v", err)
		}
		for _, d := range dirs {
			r, err := verifyOne(ctx, rd, root.Targets(), d)
			if err == nil && !r.OK {
				err = errors.New(r.Error)
			}
			if err != nil {
				res.Skipped = append(res.Skipped, Result{Path: d, Kind: KindRelease, Error: trimPrefix(err), Keys: []string{}})
				continue
			}
			platforms = append(platforms, strings.TrimPrefix(d, version+"/"))
		}
		if len(platforms) == 0 {
			why := ""
			if len(res.Skipped) > 0 {
				why = fmt.Sprintf(": %s: %s", res.Skipped[0].Path, res.Skipped[0].Error)
			}
			return nil, errorf(ErrNoRelease, "repotool: promote: no release of version %s in %s verifies against the release keys of root version %d%s", version, s.name, root.Version(), why)
		}
	}
	if err := ctx.Err(); err != nil {
		return fail("%w", err)
	}

	seq := recorded + 1
	if res.Previous != nil {
		seq = max(seq, res.Previous.Seq()+1)
	}
	ch, err := channel.NewStaged(cfg.Channel, version, platforms, seq, cfg.Expires, rollout)
	if err != nil {
		return fail("%s", trimChannel(err))
	}
	for _, k := range cfg.Keys {
		s, err := keys.NewSigner(k)
		if err != nil {
			return fail("%s", trimPrefix(err))
		}
		if _, err := ch.Sign(s); err != nil {
			return fail("%w", &kindError{kind: err, err: errors.New(trimChannel(err))})
		}
	}
	out, err := ch.Marshal()
	if err != nil {
		return fail("%s", trimChannel(err))
	}
	// The bytes about to be written, checked as a client will check them.
	if _, err := reader.VerifyChannel(out, "", ts, cfg.Channel, now, seq); err != nil {
		return nil, errorf(err, "repotool: promote: refusing to write a channel clients would refuse: %s", trimChannel(err))
	}
	if cfg.beforeWrite != nil {
		cfg.beforeWrite()
	}
	if err := s.put(ctx, relPath, bytes.NewReader(out), ifUnchanged(tok)); err != nil {
		if errors.Is(err, ErrExists) || errors.Is(err, ErrConflict) {
			return nil, errorf(ErrConflict, "repotool: promote: channel %s in %s changed while this ran (another promote?); nothing was written, run again", cfg.Channel, s.name)
		}
		return fail("%w", err)
	}
	res.Channel = ch
	if err := p.saveChannel(ctx, cfg.Channel, seq); err != nil {
		return nil, fmt.Errorf("repotool: promote: channel %s version %d is written, but could not be recorded in the pin %s: %w", cfg.Channel, seq, cfg.Pin, err)
	}
	return res, nil
}

// verifiedChannel parses a channel file from storage and verifies it
// against the channel keys ts as of just before its expiry: an expired
// channel is still one to number from or refresh, a tampered one is not.
func verifiedChannel(data []byte, ts *trust.Keys, name string) (*channel.Channel, error) {
	ch, err := reader.VerifyChannelAnyAge(data, "", ts, name)
	if err != nil {
		return nil, errors.New(trimChannel(err))
	}
	return ch, nil
}

// trimChannel drops the "channel: " prefix and any other package prefix.
func trimChannel(err error) string {
	return trimPrefix(errors.New(strings.TrimPrefix(err.Error(), "channel: ")))
}
