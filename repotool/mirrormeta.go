package repotool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/reader"
	"github.com/safeupdate/safeupdate/trust"
)

// mirrorChannel is a channel of the source, verified.
type mirrorChannel struct {
	path string
	data []byte
	ch   *channel.Channel
}

// chain reads and verifies the roots of the source: 1.root.json up to the
// pinned version, each the successor of the one before (trust.WalkTo) and
// the last one exactly the pinned bytes, then every newer one while
// present (trust.Walk: a next root the source refuses to serve ends the
// chain, as a missing one does), at most limits.Rotations. Roots older
// than the pinned one are only as good as the chain up to it: pin the
// oldest root you trust.
func (m *mirror) chain(ctx context.Context) error {
	pinned, err := trust.NewRoot(m.cfg.Root)
	if err != nil {
		return fmt.Errorf("repotool: mirror: the pinned root: %s", trimPrefix(err))
	}
	fetch := rootFetch(m.src.rd)
	first := trust.RootFileName(1)
	data, err := fetch(ctx, 1)
	if err != nil {
		return &MirrorError{Path: first, Err: fmt.Errorf("source: %w", err)}
	}
	cur, err := trust.NewRoot(data)
	if err != nil {
		return &MirrorError{Path: first, Err: fmt.Errorf("%w: %s", ErrUnverified, trimPrefix(err))}
	}
	m.roots = [][]byte{data}
	keep := func(_ *trust.Root, data []byte) { m.roots = append(m.roots, data) }
	if cur, err = trust.WalkTo(ctx, cur, pinned.Version(), fetch, keep); err != nil {
		return m.walkError(cur, pinned, err)
	}
	if !bytes.Equal(m.roots[len(m.roots)-1], pinned.Bytes()) {
		return &MirrorError{Path: trust.RootFileName(pinned.Version()), Err: fmt.Errorf("%w: not the pinned root: the source holds another root of this version", ErrUnverified)}
	}
	if cur, err = trust.Walk(ctx, cur, fetch, keep); err != nil {
		return m.walkError(cur, pinned, err)
	}
	m.final = cur
	m.res.Root = cur.Version()
	return nil
}

// walkError is the MirrorError for an error of the walk that reached
// root and no further.
func (m *mirror) walkError(root, pinned *trust.Root, err error) error {
	var re *trust.RotationError
	switch {
	case errors.As(err, &re):
		return &MirrorError{Path: trust.RootFileName(re.Version), Err: fmt.Errorf("%w: %s", ErrUnverified, trimPrefix(re.Err))}
	case errors.Is(err, trust.ErrTooManyRotations):
		return &MirrorError{Path: trust.RootFileName(root.Version() + 1), Err: errorf(err, "%w: more than %d rotations after the pinned root version %d", ErrUnverified, limits.Rotations, pinned.Version())}
	}
	return &MirrorError{Path: trust.RootFileName(root.Version() + 1), Err: fmt.Errorf("source: %w", err)}
}

// channels reads and verifies the source's channels against the newest
// root's channel keys; expiry is not checked.
func (m *mirror) channels(ctx context.Context) ([]mirrorChannel, error) {
	names := m.cfg.Channels
	if l, ok := m.src.rd.(lister); ok && len(names) == 0 {
		var err error
		if names, err = l.channelNames(ctx); err != nil {
			return nil, fmt.Errorf("repotool: mirror: source: %w", err)
		}
	}
	var out []mirrorChannel
	for _, name := range names {
		p, err := channel.Path(name)
		if err != nil {
			return nil, &MirrorError{Path: "channels/" + name + ".json", Err: errors.New(trimChannel(err))}
		}
		data, err := readRepoFile(ctx, m.src.rd, p, limits.ChannelJSON)
		if err != nil {
			return nil, &MirrorError{Path: p, Err: fmt.Errorf("source: %w", err)}
		}
		ch, err := reader.VerifyChannelAnyAge(data, "", m.final.Timestamp(), name)
		if err != nil {
			return nil, &MirrorError{Path: p, Err: fmt.Errorf("%w: %s", ErrUnverified, trimChannel(err))}
		}
		out = append(out, mirrorChannel{path: p, data: data, ch: ch})
	}
	return out, nil
}

// metadata copies the roots and channels, after the releases.
func (m *mirror) metadata(ctx context.Context, chans []mirrorChannel) error {
	l, listable := m.src.rd.(lister)
	switch {
	case m.final != nil:
		for i, data := range m.roots {
			if err := m.copyFile(ctx, trust.RootFileName(int64(i+1)), data, nil); err != nil {
				return err
			}
		}
		newer := func(old []byte) bool {
			r, err := trust.NewRoot(old)
			return err == nil && r.Version() < m.final.Version() && bytes.Equal(old, m.roots[r.Version()-1])
		}
		if err := m.copyFile(ctx, rootFile, m.roots[len(m.roots)-1], newer); err != nil {
			return err
		}
		for _, c := range chans {
			for _, p := range c.ch.Platforms() {
				if d := c.ch.Release() + "/" + p; !m.verified[d] {
					return &MirrorError{Path: c.path, Err: fmt.Errorf("%w: points to %s, which this mirror did not copy (missing, or it does not verify)", ErrUnverified, d)}
				}
			}
			older := func(old []byte) bool {
				o, err := channel.Parse(old)
				return err == nil && o.Seq() < c.ch.Seq()
			}
			if err := m.copyFile(ctx, c.path, c.data, older); err != nil {
				return err
			}
		}
	case m.keys != nil:
		if !listable {
			return nil
		}
		names, err := m.metaFiles(ctx, l)
		if err != nil {
			return err
		}
		m.res.NotCopied = names
	default:
		names := make([]string, 0, len(m.cfg.Channels))
		for _, n := range m.cfg.Channels {
			names = append(names, "channels/"+n+".json")
		}
		if listable {
			var err error
			if names, err = m.metaFiles(ctx, l); err != nil {
				return err
			}
		}
		for _, name := range names {
			data, err := readRepoFile(ctx, m.src.rd, name, max(limits.RootJSON, limits.ChannelJSON))
			if err != nil {
				return &MirrorError{Path: name, Err: fmt.Errorf("source: %w", err)}
			}
			if err := m.copyFile(ctx, name, data, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// metaFiles lists the root and channel files of a listable source, roots
// in version order and root.json after them.
func (m *mirror) metaFiles(ctx context.Context, l lister) ([]string, error) {
	top, err := l.topFiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("repotool: mirror: source: %w", err)
	}
	var out []string
	var versions []int64
	for _, name := range top {
		if mm := rootFileName.FindStringSubmatch(name); mm != nil {
			if v, err := strconv.ParseInt(mm[1], 10, 64); err == nil {
				versions = append(versions, v)
			}
		}
	}
	slices.Sort(versions)
	for _, v := range versions {
		out = append(out, trust.RootFileName(v))
	}
	if slices.Contains(top, rootFile) {
		out = append(out, rootFile)
	}
	chans, err := l.channelNames(ctx)
	if err != nil {
		return nil, fmt.Errorf("repotool: mirror: source: %w", err)
	}
	for _, c := range chans {
		out = append(out, "channels/"+c+".json")
	}
	return out, nil
}

// copyFile writes data as name in the destination unless it holds it
// already. A differing file is replaced when replace says so or with
// Force, and is an error otherwise.
func (m *mirror) copyFile(ctx context.Context, name string, data []byte, replace func(old []byte) bool) error {
	tok, err := m.dst.token(ctx, name)
	if err != nil {
		return &MirrorError{Path: name, Err: err}
	}
	if tok != "" {
		old, err := readRepoFile(ctx, m.dst.rd, name, max(limits.RootJSON, limits.ChannelJSON))
		if err == nil && bytes.Equal(old, data) {
			m.res.Skipped = append(m.res.Skipped, name)
			return nil
		}
		if !m.cfg.Force && (err != nil || replace == nil || !replace(old)) {
			return &MirrorError{Path: name, Err: errorf(ErrExists, "the destination holds another %s; use --force to replace it", name)}
		}
	}
	if err := m.dst.put(ctx, name, bytes.NewReader(data), ifUnchanged(tok)); err != nil {
		return &MirrorError{Path: name, Err: err}
	}
	m.res.Copied = append(m.res.Copied, name)
	return nil
}
