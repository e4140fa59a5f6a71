package channel

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// Full is a rollout to every client, in parts per million.
const Full = 1_000_000

// rolloutDomain separates the rollout hash from every other use of sha256
// over these strings; "v1" names this mapping, which must never change for
// a signed channel already in the field (clients would re-decide).
const rolloutDomain = "safeupdate rollout v1\x00"

// InRollout reports whether the client with rolloutID is offered release
// version of channel name under a rollout of ppm parts per million (0 to
// Full). It is the one place the decision is made.
//
// The client's place is h = the first 8 bytes, big-endian, of
// sha256("safeupdate rollout v1" || 0x00 || rolloutID || 0x00 || name ||
// 0x00 || version), read as h/2^64 in [0, 1). The client is in when
// h/2^64 < ppm/10^6, computed exactly in integers as
// floor(h*10^6 / 2^64) < ppm. So:
//   - the same client decides the same way for the same release, every time;
//   - a client in at ppm is in at every higher ppm (monotonic);
//   - the channel name and version are hashed in, so another release (or
//     channel) puts the fleet in another order and the same machines are not
//     always first;
//   - 0 offers the release to no one and Full to everyone.
//
// rolloutID must not contain a NUL byte (which would make the hashed
// string ambiguous); name and version, being valid names and versions,
// cannot.
func InRollout(rolloutID, name, version string, ppm int64) bool {
	if ppm >= Full {
		return true
	}
	if ppm <= 0 {
		return false
	}
	h := sha256.New()
	h.Write([]byte(rolloutDomain))
	h.Write([]byte(rolloutID))
	h.Write([]byte{0})
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(version))
	place := binary.BigEndian.Uint64(h.Sum(nil)[:8])
	bucket, _ := bits.Mul64(place, Full) // floor(place*10^6 / 2^64), in [0, 10^6)
	return int64(bucket) < ppm
}

// Offers reports whether c offers its release to the client with
// rolloutID: InRollout for c's name, release and rollout. Call it only on
// a verified channel.
func (c *Channel) Offers(rolloutID string) bool {
	return InRollout(rolloutID, c.name, c.release, c.rollout)
}

// Rollout returns the share of clients the channel offers its release to,
// in parts per million: Full for a channel that carries no rollout.
func (c *Channel) Rollout() int64 { return c.rollout }

// ParseRollout reads a percentage of clients, "0" to "100" with at most
// four decimals ("20", "0.5", "12.3456"), as parts per million. It is
// exact: no floating point is involved.
func ParseRollout(s string) (int64, error) {
	bad := func(why string) (int64, error) {
		return 0, fmt.Errorf("channel: rollout %q: %s", s, why)
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || (hasFrac && frac == "") {
		return bad("want a percentage from 0 to 100, such as 20 or 0.5")
	}
	if len(frac) > 4 {
		return bad("at most four decimals (a rollout is kept in parts per million)")
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return bad("want a percentage from 0 to 100, such as 20 or 0.5")
		}
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > 100 {
		return bad("want a percentage from 0 to 100")
	}
	f, _ := strconv.ParseInt((frac + "0000")[:4], 10, 64)
	ppm := w*10_000 + f
	if ppm > Full {
		return bad("want a percentage from 0 to 100")
	}
	return ppm, nil
}

// FormatRollout writes ppm parts per million as a percentage without a
// sign and without trailing zeros: "20", "0.5", "100".
func FormatRollout(ppm int64) string {
	s := strconv.FormatInt(ppm/10_000, 10)
	if frac := ppm % 10_000; frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%04d", frac), "0")
	}
	return s
}

// errRollout explains a rollout that does not fit the file's format.
var errRollout = errors.New("rollout")

// readRollout reads the rollout of a "signed" object of type typ. A
// channel of Type carries none and offers its release to everyone; a
// channel of TypeStaged carries "rollout_ppm", an integer from 0 to
// Full-1. Full is written only as Type, so that every channel has one
// encoding and clients that know only Type keep reading full rollouts.
func readRollout(signed map[string]any, typ string) (int64, error) {
	v, present := signed[rolloutMember]
	switch {
	case typ == Type && present:
		return 0, fmt.Errorf("%w: %q in a channel of _type %q (a rollout needs _type %q, which older clients refuse)", errRollout, rolloutMember, Type, TypeStaged)
	case typ == Type:
		return Full, nil
	case !present:
		return 0, fmt.Errorf("%w: _type %q without %q", errRollout, TypeStaged, rolloutMember)
	}
	ppm, err := number(v)
	if err != nil || ppm < 0 || ppm >= Full {
		return 0, fmt.Errorf("%w: %q is not an integer from 0 to %d (a full rollout is written as _type %q)", errRollout, rolloutMember, Full-1, Type)
	}
	return ppm, nil
}
