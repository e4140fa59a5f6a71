package repotool

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/platform"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/trust"
)

// ErrUnverified is wrapped by a MirrorError for a file that does not
// verify against the keys or root given to Mirror: nothing of it was
// written.
var ErrUnverified = errors.New("repotool: does not verify")

// MirrorConfig configures Mirror. Exactly one of Keys, Root and
// UnverifiedUnsafe says what the source is checked against.
type MirrorConfig struct {
	// From is the source: a directory, a file://, s3://, gs:// or
	// azblob:// URL, or an http(s):// URL (which cannot be listed: give
	// Versions and Channels).
	From string
	// To is the destination: a directory (created if missing) or a
	// file://, s3://, gs:// or azblob:// URL.
	To string
	// Keys are trusted release keys; Threshold of them (0 means 1) must
	// sign each release. Roots and channels, which keys cannot vouch for,
	// are then not copied (MirrorResult.NotCopied).
	Keys      []crypto.PublicKey
	Threshold int
	// Root is a pinned trust root (a root.json). The source's root chain
	// must lead from 1.root.json through exactly these bytes to its newest
	// root; releases are checked against that root's release keys and
	// channels against its channel keys.
	Root []byte
	// UnverifiedUnsafe copies without checking any signature: releases are
	// only checked against their own (unsigned) hashes, roots and channels
	// are copied as they are. It re-enables every attack a compromised
	// source can make on the mirror's clients that pin nothing.
	UnverifiedUnsafe bool
	// Versions limits the mirror to these versions. Required when From is
	// HTTP(S), with every platform Go knows probed.
	Versions []string
	// Channels names the channels to copy from an HTTP(S) source, which
	// cannot list them; a listable source copies all of its channels.
	Channels []string
	// CheckBinary also decompresses every payload while it is copied and
	// checks the binary's hash and size, so that a payload that fails is
	// not written (the compressed hash and size are always checked so);
	// a payload the destination holds already is read and checked in full.
	CheckBinary bool
	// Force replaces files of the destination that differ from the
	// source's (verified) ones instead of failing.
	Force bool
	// HTTPClient is used for an HTTP(S) source; nil means a client with
	// the timeouts of internal/limits.
	HTTPClient *http.Client
	// Progress, when not nil, receives the progress of long copies.
	Progress io.Writer
}

// MirrorResult says what Mirror did.
type MirrorResult struct {
	Copied  []string // files written to the destination, in order
	Skipped []string // files the destination already held, identical
	// NotCopied are the roots and channels of the source that were left
	// out because only keys were given, which cannot verify them.
	NotCopied []string
	Root      int64 // the newest root version verified, with Root
	// Channels are the channels the destination now holds as the source
	// does, verified, with Root: each with its release and rollout, which
	// are signed and copied byte for byte.
	Channels []*channel.Channel
}

// MirrorError reports a file Mirror refused to copy, or failed to. Files
// copied before it stay: each was verified.
type MirrorError struct {
	Path string // "<version>/<os>/<arch>" for a release, else the file's path
	Err  error
}

func (e *MirrorError) Error() string {
	return fmt.Sprintf("repotool: mirror: %s: %s", e.Path, trimPrefix(e.Err))
}

func (e *MirrorError) Unwrap() error { return e.Err }

// Mirror copies the repository cfg.From to cfg.To, verifying every file
// before writing it, so that a compromised source cannot poison the
// mirror. For each release, in order: release.json (bounded, strict) must
// carry a threshold of signatures of the trusted release keys and name the
// directory it is in; the payload is streamed to the destination through
// a check of the signed compressed size and sha256, and the destination
// discards it if the check fails at the end (package blobrepo: a Put whose
// reader fails writes nothing); release.json is written last. Then, with
// Root, the root files 1.root.json to the newest (verified as a chain, see
// MirrorConfig.Root) and root.json, then every channel, whose signature
// must verify against the newest root's channel keys (expiry is not
// checked, so that a mirror can still copy an expired channel: clients
// refuse it anyway) and whose platforms must all be releases this mirror
// verified.
//
// Every write is conditional. A file the destination already has with
// identical bytes is skipped. A differing release.json whose signed
// content is the same (more or fewer signatures) is replaced; so are a
// root.json or a channel that the source has a newer version of. Any other
// difference fails with ErrExists unless cfg.Force. A file changed in the
// destination while Mirror runs fails with ErrConflict.
//
// Mirror stops at the first file that fails, with a *MirrorError naming it
// (wrapping ErrUnverified when it did not verify). It never deletes a file
// of the destination that the source lacks.
func Mirror(ctx context.Context, cfg MirrorConfig) (*MirrorResult, error) {
	fail := func(format string, args ...any) (*MirrorResult, error) {
		return nil, fmt.Errorf("repotool: mirror: "+format, args...)
	}
	n := 0
	for _, given := range []bool{len(cfg.Keys) > 0, len(cfg.Root) > 0, cfg.UnverifiedUnsafe} {
		if given {
			n++
		}
	}
	switch {
	case n == 0:
		return fail("nothing to verify the source against: give keys or a root")
	case n > 1:
		return fail("give keys, a root or unverified, only one")
	case cfg.Threshold != 0 && len(cfg.Keys) == 0:
		return fail("a threshold without keys")
	}
	for _, v := range cfg.Versions {
		if err := release.ValidVersion(v); err != nil {
			return fail("%s", trimPrefix(err))
		}
	}
	src, err := openStore(ctx, cfg.From, false, false, cfg.HTTPClient)
	if err != nil {
		return fail("source: %w", err)
	}
	defer src.Close()
	dst, err := openStore(ctx, cfg.To, true, true, nil)
	if err != nil {
		return fail("destination: %w", err)
	}
	defer dst.Close()
	if src.name == dst.name || src.dir != "" && sameDir(src.dir, dst.dir) {
		return fail("the source and the destination are both %s", src.name)
	}
	cfg.Versions = slices.Clone(cfg.Versions)
	m := &mirror{cfg: cfg, src: src, dst: dst, res: &MirrorResult{}, verified: map[string]bool{}}
	if len(cfg.Root) > 0 {
		if err := m.chain(ctx); err != nil {
			return nil, err
		}
		m.keys = m.final.Targets()
	} else if len(cfg.Keys) > 0 {
		if m.keys, err = trust.NewKeys(cfg.Keys, orOne(cfg.Threshold)); err != nil {
			return fail("%s", trimPrefix(err))
		}
	}
	var chans []mirrorChannel
	if m.final != nil {
		if chans, err = m.channels(ctx); err != nil {
			return nil, err
		}
		for _, c := range chans {
			_, listable := src.rd.(lister)
			if (len(m.cfg.Versions) > 0 || !listable) && !slices.Contains(m.cfg.Versions, c.ch.Release()) {
				m.cfg.Versions = append(m.cfg.Versions, c.ch.Release())
			}
		}
	}
	if err := m.releases(ctx); err != nil {
		return nil, err
	}
	if err := m.metadata(ctx, chans); err != nil {
		return nil, err
	}
	for _, c := range chans {
		m.res.Channels = append(m.res.Channels, c.ch)
	}
	return m.res, nil
}

// mirror is one run of Mirror.
type mirror struct {
	cfg      MirrorConfig
	src, dst *repoStore
	keys     *trust.Keys // release keys; nil when unverified
	final    *trust.Root // the newest root, with cfg.Root
	roots    [][]byte    // the bytes of 1.root.json to final, verified
	res      *MirrorResult
	verified map[string]bool // releases written or found identical
}

// releaseDirs lists the source's releases: by listing, or by probing
// every platform Go knows for each version asked.
func (m *mirror) releaseDirs(ctx context.Context, versions []string) ([]string, error) {
	if l, ok := m.src.rd.(lister); ok {
		if len(versions) == 0 {
			return l.releaseDirs(ctx, "")
		}
		var out []string
		for _, v := range versions {
			dirs, err := l.releaseDirs(ctx, v)
			if err != nil {
				return nil, err
			}
			out = append(out, dirs...)
		}
		return out, nil
	}
	var out []string
	for _, v := range versions {
		for _, p := range platform.List() {
			dir := v + "/" + p
			_, err := readRepoFile(ctx, m.src.rd, dir+"/"+release.FileName, limits.ReleaseJSON)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil && unreachable(err) {
				return nil, err
			}
			out = append(out, dir) // too large: the release check says so

		}
	}
	return out, nil
}

// releases copies every release of the source (or of cfg.Versions).
func (m *mirror) releases(ctx context.Context) error {
	_, listable := m.src.rd.(lister)
	if !listable && len(m.cfg.Versions) == 0 {
		return fmt.Errorf("repotool: mirror: %s cannot be listed: give the versions to copy", m.src.name)
	}
	dirs, err := m.releaseDirs(ctx, m.cfg.Versions)
	if err != nil {
		return fmt.Errorf("repotool: mirror: source: %w", err)
	}
	if len(dirs) == 0 && len(m.cfg.Versions) > 0 {
		return errorf(ErrNoRelease, "repotool: mirror: no release of version %s in %s", m.cfg.Versions[0], m.src.name)
	}
	for _, d := range dirs {
		if err := m.release(ctx, d); err != nil {
			var me *MirrorError
			if errors.As(err, &me) {
				return err
			}
			return &MirrorError{Path: d, Err: err}
		}
	}
	return nil
}
