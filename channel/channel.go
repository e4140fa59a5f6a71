// Package channel reads and writes channel files: channels/NAME.json, a
// signed, expiring, versioned pointer from a channel name ("stable") to a
// release version and the platforms it covers. A client that does not name
// the version it wants reads a channel to learn the newest one. It does no
// I/O.
//
//	{
//	  "signed": {
//	    "_type": "channel", "name": "stable", "version": 7,
//	    "expires": "2030-01-08T00:00:00Z", "release": "0.7.0",
//	    "platforms": ["darwin/arm64", "linux/amd64"]
//	  },
//	  "signatures": [ { "keyid": "<hex key id>", "sig": "<hex signature>" } ]
//	}
//
// "version" numbers the channel file itself and only grows; "release" is
// the version of the software it points to.
//
// # Staged rollouts
//
// A channel may offer its release to a share of clients only: its _type is
// then "channel-2" (TypeStaged) and "signed" carries "rollout_ppm", the
// share in parts per million, an integer from 0 (paused: no one) to 999999.
// A channel offered to everyone is always written as _type "channel", with
// no "rollout_ppm", so each channel has one encoding and the clients that
// predate rollouts keep reading full rollouts. Those clients refuse
// "channel-2" (its _type is not theirs) instead of ignoring a member they
// do not know and updating every machine. Which clients are in is decided
// by InRollout.
//
// # Threat model
//
// Parse is strict and bounded (limits.ChannelJSON, no duplicate keys, no
// null, integers only). Verify checks, in this order, that a threshold of
// the verifier's keys signed the canonical JSON of "signed" (the caller
// passes the timestamp role of its trust root, so a release-signing key
// alone cannot move a channel), that the signed name is the one asked for
// (a mirror cannot serve "beta" as "stable"), that the channel has not
// expired (the freeze attack: a mirror replaying the last channel it saw
// forever), and that its version is not below one the caller has already
// seen (a replay of an older, still unexpired channel). The rollout is
// part of "signed": a mirror that edits it breaks the signatures, and one
// that serves an older channel with a smaller rollout is a replay.
//
// A stolen timestamp key can also sign a channel with a huge version, after
// which the caller refuses every honest one (fast-forward): when a root
// rotation changes the timestamp keys, the caller must forget the versions
// it has seen (TUF section 5.3.11).
//
// Not protected: a client with no record of a newer channel accepts any
// unexpired one, so the expiry is the bound on how stale its view can be;
// two different channels signed with the same version are not told apart.
// A channel does not vouch for a release: the release it names is verified
// on its own with the targets keys, and the client refuses to go below the
// version it runs, so a stolen timestamp key can at worst point at another
// signed release or freeze the channel until it expires.
//
// # Compatibility
//
// The envelope is TUF's: signatures over the OLPC canonical JSON of
// "signed", key ids are TUF key ids (keys.ID), signatures are hex. Members
// of "signed" this version does not know are signed, kept, and otherwise
// ignored, so a later publisher can add some without stranding old clients.
// A member that old clients must not ignore needs a new _type instead, as
// the rollout has: TypeStaged, which clients before it refuse.
package channel

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/strictjson"
	"github.com/safeupdate/safeupdate/trust"
)

var (
	// ErrMalformed is returned for a channel file that is not well formed or
	// whose fields are missing, of the wrong type or out of range.
	ErrMalformed = errors.New("channel: malformed channel file")
	// ErrTooLarge is returned for a channel file over limits.ChannelJSON.
	ErrTooLarge = errors.New("channel: channel file too large")
	// ErrUnsigned is returned by Verify for a channel with no signatures.
	ErrUnsigned = errors.New("channel: channel is not signed")
	// ErrMismatch is returned by Verify when the signed name is not the
	// channel asked for.
	ErrMismatch = errors.New("channel: channel has another name")
	// ErrExpired is returned by Verify for a channel past its expiry (the
	// freeze attack).
	ErrExpired = errors.New("channel: channel has expired")
	// ErrReplay is returned by Verify for a channel older than one the
	// caller has already seen.
	ErrReplay = errors.New("channel: channel is older than one already seen")
)

// Types of channel files: Type offers its release to every client,
// TypeStaged to the share of clients its "rollout_ppm" says. Clients that
// know only Type refuse TypeStaged.
const (
	Type       = "channel"
	TypeStaged = "channel-2"

	rolloutMember = "rollout_ppm"
)

var (
	validName  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	utcSeconds = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$`)
)

// Channel is a parsed channel file, or one being written. Its fields are
// read through methods so that they always match the signed bytes. A
// Channel is safe for concurrent reads; Sign must not run concurrently
// with anything else.
type Channel struct {
	signed    map[string]any // the "signed" object as decoded: what signatures cover
	name      string
	seq       int64
	expires   time.Time
	release   string
	platforms []string
	rollout   int64 // parts per million, Full when the file carries none
	sigs      []trust.Signature
}

// ValidName reports whether name can name a channel: 1 to 64 lower-case
// letters, digits, '.', '_' or '-', not starting with '.', '_' or '-', so
// that channels/NAME.json is a plain file name on every file system.
func ValidName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("channel: invalid channel name %q (want lower-case letters, digits, '.', '_' or '-', starting with a letter or digit)", name)
	}
	return nil
}

// Path returns where channel name lives, relative to the repository root:
// "channels/NAME.json".
func Path(name string) (string, error) {
	if err := ValidName(name); err != nil {
		return "", err
	}
	return "channels/" + name + ".json", nil
}

// Parse decodes and validates a channel file: every member of "signed" is
// present and valid, a rollout is present exactly when the _type is
// TypeStaged, the release is a semantic version and every platform
// one Go knows. The result has NOT been verified: call Verify before using
// any field.
func Parse(data []byte) (*Channel, error) {
	if len(data) > limits.ChannelJSON {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(data), limits.ChannelJSON)
	}
	if err := strictjson.Check(data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	v, err := strictjson.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: want a JSON object", ErrMalformed)
	}
	for name := range top {
		if name != "signed" && name != "signatures" {
			return nil, fmt.Errorf("%w: unknown top-level member %q", ErrMalformed, name)
		}
	}
	signed, ok := top["signed"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: \"signed\" is missing or not an object", ErrMalformed)
	}
	c, err := fromSigned(signed)
	if err != nil {
		return nil, err
	}
	if c.sigs, err = parseSignatures(top["signatures"]); err != nil {
		return nil, err
	}
	return c, nil
}

// fromSigned checks a "signed" object and reads its fields.
func fromSigned(signed map[string]any) (*Channel, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	str := func(name string) (string, error) {
		s, ok := signed[name].(string)
		if !ok {
			return "", bad("%q is missing or not a string", name)
		}
		return s, nil
	}
	c := &Channel{signed: signed}
	typ, err := str("_type")
	if err != nil {
		return nil, err
	}
	if typ != Type && typ != TypeStaged {
		return nil, bad("_type is %q, not %q or %q", typ, Type, TypeStaged)
	}
	if c.rollout, err = readRollout(signed, typ); err != nil {
		return nil, bad("%v", err)
	}
	if c.name, err = str("name"); err != nil {
		return nil, err
	}
	if err := ValidName(c.name); err != nil {
		return nil, bad("%v", err)
	}
	if c.seq, err = number(signed["version"]); err != nil || c.seq < 1 {
		return nil, bad("\"version\" is not an integer of at least 1")
	}
	exp, err := str("expires")
	if err != nil {
		return nil, err
	}
	if c.expires, err = time.Parse(time.RFC3339, exp); err != nil || !utcSeconds.MatchString(exp) {
		return nil, bad("\"expires\" %q is not a UTC time in whole seconds (2006-01-02T15:04:05Z)", exp)
	}
	if c.release, err = str("release"); err != nil {
		return nil, err
	}
	if err := validRelease(c.release); err != nil {
		return nil, bad("release: %v", err)
	}
	list, ok := signed["platforms"].([]any)
	if !ok || len(list) == 0 {
		return nil, bad("\"platforms\" is missing, empty or not an array")
	}
	for _, p := range list {
		s, ok := p.(string)
		if !ok {
			return nil, bad("a platform is not a string")
		}
		c.platforms = append(c.platforms, s)
	}
	if err := validPlatforms(c.platforms); err != nil {
		return nil, bad("%v", err)
	}
	if _, err := c.SigningBytes(); err != nil {
		return nil, err
	}
	return c, nil
}

// Verify checks c against v, the keys trusted to sign channels (the
// timestamp role of a trust root), at time now, for the channel the caller
// asked for, given the highest channel version it has already accepted (0
// if none). It returns nil only when a threshold of v's keys signed c, its
// name is name, it has not expired and its version is at least
// lastSeenVersion; the caller should then record Seq() as seen. An equal
// version is accepted: it is the same channel fetched again. Errors wrap
// ErrUnsigned, trust.ErrThreshold, ErrMismatch, ErrExpired or ErrReplay.
func (c *Channel) Verify(v trust.Verifier, now time.Time, name string, lastSeenVersion int64) error {
	if v == nil {
		return errors.New("channel: no verifier given")
	}
	if len(c.sigs) == 0 {
		return ErrUnsigned
	}
	msg, err := c.SigningBytes()
	if err != nil {
		return err
	}
	if _, err := v.Verify(msg, c.sigs); err != nil {
		return fmt.Errorf("channel: %w", err)
	}
	if c.name != name {
		return fmt.Errorf("%w: asked for %q, got a file signed for %q", ErrMismatch, name, c.name)
	}
	if !now.Before(c.expires) {
		return fmt.Errorf("%w: %q expired at %s", ErrExpired, c.name, c.expires.Format(time.RFC3339))
	}
	if c.seq < lastSeenVersion {
		return fmt.Errorf("%w: %q version %d, but version %d was seen before", ErrReplay, c.name, c.seq, lastSeenVersion)
	}
	return nil
}

// SigningBytes returns the bytes signatures cover: the canonical JSON of
// "signed".
func (c *Channel) SigningBytes() ([]byte, error) {
	b, err := cjson.EncodeCanonical(c.signed)
	if err != nil {
		return nil, fmt.Errorf("%w: no canonical form: %v", ErrMalformed, err)
	}
	return b, nil
}

// Name returns the channel's signed name.
func (c *Channel) Name() string { return c.name }

// Seq returns the channel file's own version ("version" in the file).
func (c *Channel) Seq() int64 { return c.seq }

// Expires returns when the channel expires (UTC).
func (c *Channel) Expires() time.Time { return c.expires }

// Release returns the version of the software the channel points to.
func (c *Channel) Release() string { return c.release }

// Platforms returns the platforms ("os/arch") the channel says the release
// covers.
func (c *Channel) Platforms() []string { return slices.Clone(c.platforms) }

// HasPlatform reports whether the channel lists goos/goarch.
func (c *Channel) HasPlatform(goos, goarch string) bool {
	return slices.Contains(c.platforms, goos+"/"+goarch)
}

// number reads a JSON integer decoded as json.Number.
func number(v any) (int64, error) {
	n, ok := v.(interface{ Int64() (int64, error) })
	if !ok {
		return 0, errors.New("not a number")
	}
	return n.Int64()
}

func splitPlatform(p string) (goos, goarch string, ok bool) {
	return strings.Cut(p, "/")
}
