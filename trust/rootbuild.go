package trust

import (
	"bytes"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/keys"
)

// ErrDraftChanged is returned by RootDraft's Sign and Marshal when the
// draft was edited after it was signed: the signatures it holds would not
// cover what it would write.
var ErrDraftChanged = errors.New("trust: root draft changed after it was signed")

// RoleKeys is the keys of one role and how many of them must sign.
type RoleKeys struct {
	Keys      []crypto.PublicKey
	Threshold int
}

// RootDraft is a root being written by a publisher: version 1 from
// NewRootDraft, a successor from NextRoot, or a partly signed file from
// ParseRootDraft. Edit its fields, then Sign with each key, then Marshal.
// The snapshot role gets the timestamp keys. A RootDraft is not safe for
// concurrent use, and nothing in it is trusted: a client verifies the
// written bytes with NewRoot or Root.Update.
type RootDraft struct {
	Version   int64
	Expires   time.Time // written in UTC, whole seconds
	Root      RoleKeys  // sign the next root
	Targets   RoleKeys  // sign releases
	Timestamp RoleKeys  // sign channel files; also the snapshot role

	specVersion string
	consistent  bool
	sigs        []Signature
	covers      []byte // the signed bytes sigs were made over
}

// NewRootDraft starts version 1 of a root.
func NewRootDraft(root, targets, timestamp RoleKeys, expires time.Time) *RootDraft {
	return &RootDraft{Version: 1, Expires: expires, Root: root, Targets: targets, Timestamp: timestamp,
		specVersion: metadata.SPECIFICATION_VERSION}
}

// NextRoot starts the successor of prev: the same keys, thresholds and
// expiry, version prev.Version()+1, no signatures. The snapshot role of
// prev is dropped in favour of its timestamp keys.
func NextRoot(prev *Root) *RootDraft {
	return &RootDraft{
		Version:     prev.version + 1,
		Expires:     prev.expires,
		Root:        prev.roles[RoleRoot].roleKeys(),
		Targets:     prev.roles[RoleTargets].roleKeys(),
		Timestamp:   prev.roles[RoleTimestamp].roleKeys(),
		specVersion: metadata.SPECIFICATION_VERSION,
	}
}

// ParseRootDraft reads a root file (such as a partly signed N.root.json)
// to add signatures to it. Its signatures are kept as they are and NOT
// verified. A root whose snapshot keys differ from its timestamp keys is
// refused, since a draft cannot write it back unchanged.
func ParseRootDraft(data []byte) (*RootDraft, error) {
	r, err := parseRoot(data)
	if err != nil {
		return nil, err
	}
	snap, ts := r.roles[RoleSnapshot], r.roles[RoleTimestamp]
	if snap.threshold != ts.threshold || !slices.Equal(snap.IDs(), ts.IDs()) {
		return nil, fmt.Errorf("%w: snapshot and timestamp keys differ; this tool cannot rewrite such a root", ErrMalformedRoot)
	}
	d := NextRoot(r)
	d.Version, d.specVersion, d.consistent = r.version, r.specVersion, r.consistent
	d.sigs, d.covers = r.sigs, r.signed
	if msg, err := d.SigningBytes(); err != nil || !bytes.Equal(msg, r.signed) {
		return nil, fmt.Errorf("%w: the root cannot be rewritten unchanged", ErrMalformedRoot)
	}
	return d, nil
}

// roleKeys returns k's keys sorted by id.
func (k *Keys) roleKeys() RoleKeys {
	rk := RoleKeys{Threshold: k.threshold}
	for _, id := range k.IDs() {
		rk.Keys = append(rk.Keys, k.byID[id])
	}
	return rk
}

// metadata builds the go-tuf form of d's signed part, checking each role.
func (d *RootDraft) metadata() (*metadata.Metadata[metadata.RootType], error) {
	if d.Version < 1 {
		return nil, fmt.Errorf("trust: root version %d is less than 1", d.Version)
	}
	exp := d.Expires.UTC().Truncate(time.Second)
	if d.Expires.IsZero() || exp.Year() < 1 || exp.Year() > 9999 {
		return nil, fmt.Errorf("trust: root expiry %v is out of range", d.Expires)
	}
	meta := metadata.Root(exp)
	meta.Signed.Version = d.Version
	meta.Signed.SpecVersion = d.specVersion
	meta.Signed.ConsistentSnapshot = d.consistent
	for name, rk := range map[string]RoleKeys{RoleRoot: d.Root, RoleTargets: d.Targets, RoleSnapshot: d.Timestamp, RoleTimestamp: d.Timestamp} {
		if len(rk.Keys) == 0 || len(rk.Keys) > limits.Signatures {
			return nil, fmt.Errorf("trust: role %q has %d keys (want 1 to %d)", name, len(rk.Keys), limits.Signatures)
		}
		if rk.Threshold < 1 || rk.Threshold > len(rk.Keys) {
			return nil, fmt.Errorf("trust: role %q has threshold %d with %d keys (want 1 to the number of keys)", name, rk.Threshold, len(rk.Keys))
		}
		role := meta.Signed.Roles[name]
		role.Threshold = rk.Threshold
		for _, pub := range rk.Keys {
			k, err := keys.TUFKey(pub)
			if err != nil {
				return nil, fmt.Errorf("trust: role %q: %w", name, err)
			}
			id, err := k.ID()
			if err != nil {
				return nil, fmt.Errorf("trust: role %q: %w", name, err)
			}
			for _, have := range role.KeyIDs {
				if have == id {
					return nil, fmt.Errorf("trust: role %q lists key %s twice", name, shortID(id))
				}
			}
			role.KeyIDs = append(role.KeyIDs, id)
			meta.Signed.Keys[id] = k
		}
		sort.Strings(role.KeyIDs)
	}
	return meta, nil
}

// SigningBytes returns the bytes a root key signs: the canonical JSON of
// the signed part, as TUF and go-tuf compute it.
func (d *RootDraft) SigningBytes() ([]byte, error) {
	meta, err := d.metadata()
	if err != nil {
		return nil, err
	}
	b, err := cjson.EncodeCanonical(meta.Signed)
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	return b, nil
}

// Sign adds a signature by s. If d already holds a valid signature by the
// same key, d is unchanged and added is false; an invalid one by that key
// is replaced. Any key may sign: MissingSignatures says which are needed.
func (d *RootDraft) Sign(s signature.Signer) (added bool, err error) {
	pub, err := s.PublicKey()
	if err != nil {
		return false, fmt.Errorf("trust: %w", err)
	}
	id, err := keys.ID(pub)
	if err != nil {
		return false, fmt.Errorf("trust: %w", err)
	}
	msg, err := d.SigningBytes()
	if err != nil {
		return false, err
	}
	if len(d.sigs) > 0 && !bytes.Equal(msg, d.covers) {
		return false, ErrDraftChanged
	}
	kept := d.sigs[:0:0]
	for _, old := range d.sigs {
		if old.KeyID != id {
			kept = append(kept, old)
		} else if keys.Verify(pub, msg, old.Sig) == nil {
			return false, nil
		}
	}
	if len(kept) >= limits.Signatures {
		return false, fmt.Errorf("trust: root already has %d signatures, the limit", len(kept))
	}
	sig, err := keys.Sign(s, msg)
	if err != nil {
		return false, err
	}
	if err := keys.Verify(pub, msg, sig); err != nil {
		return false, fmt.Errorf("trust: fresh signature does not verify: %w", err)
	}
	d.sigs, d.covers = append(kept, Signature{KeyID: id, Sig: sig}), msg
	return true, nil
}

// Marshal encodes d as an indented TUF root.json with its signatures. The
// result is parsed back before it is returned, so it is a root NewRoot and
// other TUF implementations can read; it is not necessarily signed enough.
func (d *RootDraft) Marshal() ([]byte, error) {
	meta, err := d.metadata()
	if err != nil {
		return nil, err
	}
	msg, err := cjson.EncodeCanonical(meta.Signed)
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	if len(d.sigs) > 0 && !bytes.Equal(msg, d.covers) {
		return nil, ErrDraftChanged
	}
	for _, s := range d.sigs {
		meta.Signatures = append(meta.Signatures, metadata.Signature{KeyID: s.KeyID, Signature: s.Sig})
	}
	out, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("trust: encoding root: %w", err)
	}
	out = append(out, '\n')
	if _, err := parseRoot(out); err != nil {
		return nil, fmt.Errorf("trust: refusing to write an invalid root: %w", err)
	}
	return out, nil
}

// Missing says which root keys still have to sign a root.
type Missing struct {
	Previous Need // the previous root's root role; zero without one
	Next     Need // the root's own root role
}

// Need is what one role still lacks.
type Need struct {
	Signatures int      // how many more valid signatures are required
	Unsigned   []string // ids of the role's keys with no valid signature, sorted
}

// Complete reports whether no more signatures are needed.
func (m *Missing) Complete() bool { return m.Previous.Signatures == 0 && m.Next.Signatures == 0 }

// MissingSignatures reports which signatures next still needs to be
// accepted after prev: a threshold of prev's root keys and of its own (TUF
// section 5.3.4). With prev nil, next is a first root and needs only its
// own. It is advice for a publisher, not a verification: use NewRoot or
// Update for that. An error wraps ErrMalformedRoot, or ErrRootVersion when
// next is not prev's successor.
func MissingSignatures(prev *Root, next []byte) (*Missing, error) {
	n, err := parseRoot(next)
	if err != nil {
		return nil, err
	}
	m := &Missing{Next: need(n.roles[RoleRoot], n.signed, n.sigs)}
	if prev != nil {
		if n.version != prev.version+1 {
			return nil, fmt.Errorf("%w: version %d cannot follow version %d", ErrRootVersion, n.version, prev.version)
		}
		m.Previous = need(prev.roles[RoleRoot], n.signed, n.sigs)
	}
	return m, nil
}

// need counts the keys of k with a valid signature over msg.
func need(k *Keys, msg []byte, sigs []Signature) Need {
	signed := make(map[string]bool)
	for _, s := range sigs {
		if pub, ok := k.byID[s.KeyID]; ok && keys.Verify(pub, msg, s.Sig) == nil {
			signed[s.KeyID] = true
		}
	}
	n := Need{Signatures: max(0, k.threshold-len(signed))}
	for _, id := range k.IDs() {
		if !signed[id] {
			n.Unsigned = append(n.Unsigned, id)
		}
	}
	return n
}
