// Package trust holds a client's pinned root of trust and decides whether a
// set of signatures over some bytes meets it. It does no I/O: callers hand it
// bytes and get back a verdict.
//
// Two kinds of trust exist. Keys is a set of pinned public keys with a
// threshold and no rotation. A TUF root (see Root) names keys per role and
// rotates through signed successors; Walk is the one walk of a chain of
// them, which the client (apply) and the publisher's tools (repotool) share,
// so that both reach the same root from the same pin. The caller does the
// reading, through a Fetch function.
//
// # Threat model
//
// A threshold counts distinct public keys, never signature entries or key
// ids: one key listed twice, under two ids, or signing twice, counts once.
// Signatures by keys that are not trusted are ignored, not errors, so that a
// document may carry signatures for several audiences; but they never count.
//
// A walk of roots accepts each only as the exact next version, signed by a
// threshold of the previous root's root keys and of its own, and ends at
// the first version the repository does not have: a repository can hold a
// walker at the root it has (until that root expires, see CheckExpiry),
// never move it to keys the chain did not sign. Walk takes at most
// limits.Rotations steps and says so (ErrTooManyRotations) rather than
// stopping short in silence.
//
// # Compatibility
//
// Key ids are TUF key ids (keys.ID).
package trust

import (
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/keys"
)

// ErrThreshold is returned when fewer distinct trusted keys than the
// threshold produced a valid signature.
var ErrThreshold = errors.New("trust: signature threshold not met")

// Signature is one detached signature: the TUF id of the key that made it
// and the signature bytes.
type Signature struct {
	KeyID string
	Sig   []byte
}

// Verifier decides whether signatures over msg meet a root of trust. It
// returns the ids of the trusted keys whose signatures verified, or an error
// wrapping ErrThreshold.
type Verifier interface {
	Verify(msg []byte, sigs []Signature) ([]string, error)
}

// Key is one trusted public key with its TUF key id.
type Key struct {
	ID     string
	Public crypto.PublicKey
}

// Keys is a pinned set of public keys with a threshold. It is immutable and
// safe for concurrent use.
type Keys struct {
	byID      map[string]crypto.PublicKey
	threshold int
}

// NewKeys pins pubs with the given threshold. The threshold must be between
// 1 and the number of distinct keys; duplicate keys are refused, since they
// suggest a configuration mistake that would make the threshold look
// stronger than it is.
func NewKeys(pubs []crypto.PublicKey, threshold int) (*Keys, error) {
	if len(pubs) == 0 {
		return nil, errors.New("trust: no public keys given")
	}
	if threshold < 1 {
		return nil, fmt.Errorf("trust: threshold %d is less than 1", threshold)
	}
	k := &Keys{byID: make(map[string]crypto.PublicKey), threshold: threshold}
	seen := make(map[[32]byte]bool)
	for _, pub := range pubs {
		fp, err := keys.Fingerprint(pub)
		if err != nil {
			return nil, fmt.Errorf("trust: %w", err)
		}
		if seen[fp] {
			return nil, errors.New("trust: the same public key is given twice")
		}
		seen[fp] = true
		id, err := keys.ID(pub)
		if err != nil {
			return nil, fmt.Errorf("trust: %w", err)
		}
		k.byID[id] = pub
	}
	if threshold > len(k.byID) {
		return nil, fmt.Errorf("trust: threshold %d is more than the %d keys given", threshold, len(k.byID))
	}
	return k, nil
}

// Threshold returns how many distinct keys must sign.
func (k *Keys) Threshold() int { return k.threshold }

// IDs returns the trusted key ids, sorted.
func (k *Keys) IDs() []string {
	ids := make([]string, 0, len(k.byID))
	for id := range k.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Verify checks sigs over msg and returns the ids of the trusted keys that
// signed it, once each, when at least Threshold of them did.
func (k *Keys) Verify(msg []byte, sigs []Signature) ([]string, error) {
	return VerifyThreshold(msg, sigs, k.byID, k.threshold)
}

// VerifyThreshold is the counting rule shared by every kind of trust:
// signatures whose key id is in trusted and whose bytes verify count once
// per distinct public key; the rest are ignored. It fails unless at least
// threshold distinct keys signed.
func VerifyThreshold(msg []byte, sigs []Signature, trusted map[string]crypto.PublicKey, threshold int) ([]string, error) {
	if threshold < 1 {
		return nil, fmt.Errorf("trust: threshold %d is less than 1", threshold)
	}
	c, err := check(msg, sigs, trusted)
	if err != nil {
		return nil, err
	}
	if len(c.Valid) < threshold {
		msg := fmt.Sprintf("%d of %d required trusted signatures verified", len(c.Valid), threshold)
		if len(c.Invalid) > 0 {
			short := make([]string, len(c.Invalid))
			for i, id := range c.Invalid {
				short[i] = shortID(id)
			}
			msg += "; bad signature from key " + strings.Join(short, ", ")
		}
		return nil, fmt.Errorf("%w: %s", ErrThreshold, msg)
	}
	return c.Valid, nil
}

// Checked sorts the signatures over one document by what they are worth
// against one set of trusted keys, as VerifyThreshold counts them. Every
// list is sorted and holds each key id once.
type Checked struct {
	// Valid are the trusted keys whose signature verifies, counted once
	// per distinct public key: what VerifyThreshold compares with the
	// threshold.
	Valid []string
	// Invalid are the trusted keys with a signature that does not verify
	// over these bytes: the document was changed after they signed, or the
	// entry is forged. A key may be in both lists when it signed twice.
	Invalid []string
	// Unknown are the ids of signatures by keys that are not trusted. They
	// are ignored, never counted, whatever their bytes.
	Unknown []string
}

// Check sorts sigs over msg into the lists of Checked against k. It is for
// showing a signer what a document already carries; whether a document is
// accepted is Verify's decision. It fails only for more than
// limits.Signatures signatures.
func (k *Keys) Check(msg []byte, sigs []Signature) (*Checked, error) {
	return check(msg, sigs, k.byID)
}

// check is the one loop over signatures behind VerifyThreshold and Check.
func check(msg []byte, sigs []Signature, trusted map[string]crypto.PublicKey) (*Checked, error) {
	if len(sigs) > limits.Signatures {
		return nil, fmt.Errorf("trust: %d signatures, more than the limit of %d", len(sigs), limits.Signatures)
	}
	c := &Checked{}
	counted := make(map[[32]byte]bool)
	seen := make(map[string]bool) // key ids already in Invalid or Unknown
	note := func(list *[]string, id string) {
		if !seen[id] {
			seen[id] = true
			*list = append(*list, id)
		}
	}
	for _, s := range sigs {
		pub, ok := trusted[s.KeyID]
		if !ok {
			note(&c.Unknown, s.KeyID)
			continue
		}
		fp, err := keys.Fingerprint(pub)
		if err != nil || keys.Verify(pub, msg, s.Sig) != nil {
			note(&c.Invalid, s.KeyID)
			continue
		}
		if !counted[fp] {
			counted[fp] = true
			c.Valid = append(c.Valid, s.KeyID)
		}
	}
	sort.Strings(c.Valid)
	sort.Strings(c.Invalid)
	sort.Strings(c.Unknown)
	return c, nil
}

// shortID shortens a key id for messages.
func shortID(id string) string {
	if _, err := hex.DecodeString(id); err != nil || len(id) < 16 {
		return fmt.Sprintf("%q", id)
	}
	return id[:16]
}
