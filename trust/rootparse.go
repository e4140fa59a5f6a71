package trust

import (
	"bytes"
	"crypto"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/strictjson"
	"github.com/safeupdate/safeupdate/keys"
)

var (
	hexKeyID   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	utcSeconds = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$`)
)

// maxSigLen bounds one signature (ECDSA P-256 DER is at most 72 bytes).
const maxSigLen = 512

// parseRoot decodes data strictly and checks every rule of the format, but
// no signature. Nulls and bad ed25519 keys are refused before go-tuf reads
// the document, since go-tuf v2.4.2 panics on some of them.
func parseRoot(data []byte) (*Root, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformedRoot, fmt.Sprintf(format, args...))
	}
	if len(data) > limits.RootJSON {
		return nil, bad("%d bytes, the limit is %d", len(data), limits.RootJSON)
	}
	if err := strictjson.Check(data); err != nil {
		return nil, bad("%v", err)
	}
	generic, err := strictjson.Decode(data)
	if err != nil {
		return nil, bad("%v", err)
	}
	top, ok := generic.(map[string]any)
	if !ok {
		return nil, bad("want a JSON object")
	}
	signedObj, ok := top["signed"].(map[string]any)
	if !ok {
		return nil, bad(`"signed" is missing or not an object`)
	}
	if _, ok := top["signatures"].([]any); !ok {
		return nil, bad(`"signatures" is missing or not an array`)
	}
	if exp, _ := signedObj["expires"].(string); !utcSeconds.MatchString(exp) {
		return nil, bad(`"expires" is not a UTC time in whole seconds (2006-01-02T15:04:05Z)`)
	}
	canon, err := cjson.EncodeCanonical(signedObj)
	if err != nil {
		return nil, bad("no canonical form: %v", err)
	}
	meta, err := new(metadata.Metadata[metadata.RootType]).FromBytes(data)
	if err != nil {
		return nil, bad("%v", err)
	}
	r, err := checkRoot(meta)
	if err != nil {
		return nil, bad("%v", err)
	}
	// What go-tuf verifies signatures over must be what we verify them
	// over, or another TUF client would read a different root.
	tufCanon, err := cjson.EncodeCanonical(meta.Signed)
	if err != nil || !bytes.Equal(canon, tufCanon) {
		return nil, bad(`"signed" has members or forms that TUF does not define`)
	}
	r.raw = bytes.Clone(data)
	r.signed = canon
	return r, nil
}

// checkRoot applies this package's rules to a root decoded by go-tuf.
func checkRoot(meta *metadata.Metadata[metadata.RootType]) (*Root, error) {
	s := &meta.Signed
	switch {
	case len(meta.UnrecognizedFields) > 0:
		return nil, fmt.Errorf("unknown top-level members %s", memberNames(meta.UnrecognizedFields))
	case len(s.UnrecognizedFields) > 0:
		return nil, fmt.Errorf("unknown members %s in signed", memberNames(s.UnrecognizedFields))
	case s.Type != metadata.ROOT:
		return nil, fmt.Errorf("_type is %q, not %q", s.Type, metadata.ROOT)
	case !strings.HasPrefix(s.SpecVersion, "1."):
		return nil, fmt.Errorf("spec_version %q is not 1.x", s.SpecVersion)
	case s.Version < 1:
		return nil, fmt.Errorf("version %d is less than 1", s.Version)
	case len(s.Keys) > len(roleNames)*limits.Signatures:
		return nil, fmt.Errorf("%d keys, the limit is %d", len(s.Keys), len(roleNames)*limits.Signatures)
	case len(meta.Signatures) > limits.Signatures:
		return nil, fmt.Errorf("%d signatures, the limit is %d", len(meta.Signatures), limits.Signatures)
	}
	pubs := make(map[string]crypto.PublicKey, len(s.Keys))
	for id, k := range s.Keys {
		pub, err := checkKey(id, k)
		if err != nil {
			return nil, err
		}
		pubs[id] = pub
	}
	r := &Root{
		version:     s.Version,
		expires:     s.Expires.UTC(),
		roles:       make(map[string]*Keys, len(roleNames)),
		specVersion: s.SpecVersion,
		consistent:  s.ConsistentSnapshot,
	}
	used := make(map[string]bool)
	for name, role := range s.Roles {
		if !isRoleName(name) {
			return nil, fmt.Errorf("role %q is not one of %s", name, strings.Join(roleNames, ", "))
		}
		k, err := checkRole(name, role, pubs)
		if err != nil {
			return nil, err
		}
		for id := range k.byID {
			used[id] = true
		}
		r.roles[name] = k
	}
	for _, name := range roleNames {
		if r.roles[name] == nil {
			return nil, fmt.Errorf("role %q is missing", name)
		}
	}
	for id := range pubs {
		if !used[id] {
			return nil, fmt.Errorf("key %s is in no role", shortID(id))
		}
	}
	for i, sig := range meta.Signatures {
		switch {
		case len(sig.UnrecognizedFields) > 0:
			return nil, fmt.Errorf("signature %d: unknown members %s", i, memberNames(sig.UnrecognizedFields))
		case !hexKeyID.MatchString(sig.KeyID):
			return nil, fmt.Errorf("signature %d: keyid is not 64 lower-case hex digits", i)
		case len(sig.Signature) == 0 || len(sig.Signature) > maxSigLen:
			return nil, fmt.Errorf("signature %d: %d bytes long", i, len(sig.Signature))
		}
		r.sigs = append(r.sigs, Signature{KeyID: sig.KeyID, Sig: bytes.Clone(sig.Signature)})
	}
	return r, nil
}

// checkKey refuses any key but ed25519 (32 bytes) and ECDSA P-256, any key
// not written exactly as keys.TUFKey writes it, and any id that is not the
// key's TUF key id, so that one key has one id and one encoding only.
func checkKey(id string, k *metadata.Key) (crypto.PublicKey, error) {
	if !hexKeyID.MatchString(id) {
		return nil, fmt.Errorf("key id %q is not 64 lower-case hex digits", id)
	}
	if k == nil || len(k.UnrecognizedFields) > 0 || len(k.Value.UnrecognizedFields) > 0 {
		return nil, fmt.Errorf("key %s has unknown members", shortID(id))
	}
	if k.Type != metadata.KeyTypeEd25519 && k.Type != metadata.KeyTypeECDSA_SHA2_P256 {
		return nil, fmt.Errorf("key %s: keytype %q is not ed25519 or ecdsa", shortID(id), k.Type)
	}
	pub, err := k.ToPublicKey()
	if err != nil {
		return nil, fmt.Errorf("key %s: %v", shortID(id), err)
	}
	// keys.TypeOf refuses ed25519 keys that are not 32 bytes: go-tuf v2.4.2
	// accepts them and crypto/ed25519 panics on them.
	if _, err := keys.TypeOf(pub); err != nil {
		return nil, fmt.Errorf("key %s: %v", shortID(id), err)
	}
	want, err := keys.TUFKey(pub)
	if err != nil {
		return nil, fmt.Errorf("key %s: %v", shortID(id), err)
	}
	if want.Type != k.Type || want.Scheme != k.Scheme || want.Value.PublicKey != k.Value.PublicKey {
		return nil, fmt.Errorf("key %s: not in the canonical form (keytype %q, scheme %q, public %s)",
			shortID(id), want.Type, want.Scheme, describeEncoding(want.Type))
	}
	wantID, err := want.ID()
	if err != nil {
		return nil, fmt.Errorf("key %s: %v", shortID(id), err)
	}
	if wantID != id {
		return nil, fmt.Errorf("key listed as %s has key id %s", shortID(id), shortID(wantID))
	}
	return pub, nil
}

func describeEncoding(keytype string) string {
	if keytype == metadata.KeyTypeEd25519 {
		return "lower-case hex"
	}
	return "PKIX PEM"
}

// checkRole checks one role's keys and threshold and returns them as Keys.
func checkRole(name string, role *metadata.Role, pubs map[string]crypto.PublicKey) (*Keys, error) {
	switch {
	case role == nil:
		return nil, fmt.Errorf("role %q is empty", name)
	case len(role.UnrecognizedFields) > 0:
		return nil, fmt.Errorf("role %q has unknown members %s", name, memberNames(role.UnrecognizedFields))
	case len(role.KeyIDs) > limits.Signatures:
		return nil, fmt.Errorf("role %q has %d keys, the limit is %d", name, len(role.KeyIDs), limits.Signatures)
	case role.Threshold < 1 || role.Threshold > len(role.KeyIDs):
		return nil, fmt.Errorf("role %q has threshold %d with %d keys (want 1 to the number of keys)", name, role.Threshold, len(role.KeyIDs))
	}
	k := &Keys{byID: make(map[string]crypto.PublicKey, len(role.KeyIDs)), threshold: role.Threshold}
	for _, id := range role.KeyIDs {
		pub, ok := pubs[id]
		if !ok {
			return nil, fmt.Errorf("role %q names key %s, which is not in keys", name, shortID(id))
		}
		if _, dup := k.byID[id]; dup {
			return nil, fmt.Errorf("role %q names key %s twice", name, shortID(id))
		}
		k.byID[id] = pub
	}
	return k, nil
}

func isRoleName(name string) bool {
	for _, n := range roleNames {
		if n == name {
			return true
		}
	}
	return false
}

func memberNames(m map[string]any) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, fmt.Sprintf("%q", n))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
