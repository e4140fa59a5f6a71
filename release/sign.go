package release

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/trust"
)

// object returns r as a generic JSON object, with or without signatures.
func (r *Release) object(withSignatures bool) (map[string]any, error) {
	obj := map[string]any{
		"binary":          r.Binary,
		"hash":            r.Hash,
		"size":            json.Number(fmt.Sprint(r.Size)),
		"version":         r.Version,
		"os":              r.OS,
		"arch":            r.Arch,
		"compressed_hash": r.CompressedHash,
		"compressed_size": json.Number(fmt.Sprint(r.CompressedSize)),
	}
	if len(r.Patches) > 0 {
		patches, err := r.patchesObject()
		if err != nil {
			return nil, fmt.Errorf("%w: \"patches\": %v", ErrMalformed, err)
		}
		obj["patches"] = patches
	}
	for name, raw := range r.extra {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrMalformed, name, err)
		}
		obj[name] = v
	}
	if withSignatures {
		sigs := make([]any, 0, len(r.Signatures))
		for _, s := range r.Signatures {
			sigs = append(sigs, map[string]any{"keyid": s.KeyID, "sig": s.Sig})
		}
		obj["signatures"] = sigs
	}
	return obj, nil
}

// SigningBytes returns the bytes that signatures cover: the canonical JSON
// (OLPC, as TUF uses) of the whole object without "signatures".
func (r *Release) SigningBytes() ([]byte, error) {
	obj, err := r.object(false)
	if err != nil {
		return nil, err
	}
	b, err := cjson.EncodeCanonical(obj)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return b, nil
}

// Marshal encodes r as indented JSON: the known members in a fixed order,
// then unknown members sorted by name, then the signatures.
func (r *Release) Marshal() ([]byte, error) {
	obj, err := r.object(true)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(r.extra))
	for name := range r.extra {
		if !slices.Contains(known, name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	order := append(append(append([]string{}, known[:len(known)-1]...), names...), "signatures")
	var buf bytes.Buffer
	buf.WriteString("{\n")
	order = slices.DeleteFunc(order, func(name string) bool { _, ok := obj[name]; return !ok })
	for i, name := range order {
		v, err := json.MarshalIndent(obj[name], "  ", "  ")
		if err != nil {
			return nil, fmt.Errorf("release: encoding %q: %w", name, err)
		}
		k, _ := json.Marshal(name)
		fmt.Fprintf(&buf, "  %s: %s", k, v)
		if i < len(order)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("}\n")
	if _, err := Parse(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("release: refusing to write an invalid release.json: %w", err)
	}
	return buf.Bytes(), nil
}

// Sign adds a signature by s over r's signing bytes. If r already holds a
// valid signature by the same key, r is left unchanged and added is false;
// an invalid one by that key is replaced.
func (r *Release) Sign(s signature.Signer) (added bool, err error) {
	pub, err := s.PublicKey()
	if err != nil {
		return false, fmt.Errorf("release: %w", err)
	}
	id, err := keys.ID(pub)
	if err != nil {
		return false, fmt.Errorf("release: %w", err)
	}
	msg, err := r.SigningBytes()
	if err != nil {
		return false, err
	}
	if r.signedBy(id, pub, msg) {
		return false, nil
	}
	kept := r.Signatures[:0:0]
	for _, old := range r.Signatures {
		if old.KeyID != id {
			kept = append(kept, old)
		}
	}
	sig, err := keys.Sign(s, msg)
	if err != nil {
		return false, err
	}
	if err := keys.Verify(pub, msg, sig); err != nil {
		return false, fmt.Errorf("release: fresh signature does not verify: %w", err)
	}
	r.Signatures = append(kept, Signature{KeyID: id, Sig: hex.EncodeToString(sig)})
	return true, nil
}

// SignedBy reports whether r holds a valid signature by pub over its
// signing bytes: whether Sign with that key would leave r unchanged.
func (r *Release) SignedBy(pub crypto.PublicKey) (bool, error) {
	id, err := keys.ID(pub)
	if err != nil {
		return false, fmt.Errorf("release: %w", err)
	}
	msg, err := r.SigningBytes()
	if err != nil {
		return false, err
	}
	return r.signedBy(id, pub, msg), nil
}

// signedBy reports whether r holds a signature by key id that verifies
// over msg with pub.
func (r *Release) signedBy(id string, pub crypto.PublicKey, msg []byte) bool {
	for _, s := range r.Signatures {
		if s.KeyID != id {
			continue
		}
		if sig, err := hex.DecodeString(s.Sig); err == nil && keys.Verify(pub, msg, sig) == nil {
			return true
		}
	}
	return false
}

// Verify checks r's signatures over its signing bytes against v. On success
// it returns the ids of the trusted keys that signed, and r's fields may be
// trusted as far as v's keys are; call Expect next. It returns an error
// wrapping ErrUnsigned for a release with no signatures, or trust's error
// (wrapping trust.ErrThreshold) when too few trusted keys signed.
func (r *Release) Verify(v trust.Verifier) ([]string, error) {
	if len(r.Signatures) == 0 {
		return nil, ErrUnsigned
	}
	msg, sigs, err := r.signed()
	if err != nil {
		return nil, err
	}
	ids, err := v.Verify(msg, sigs)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	return ids, nil
}

// CheckSignatures sorts r's signatures against the keys k (see
// trust.Checked): valid, not verifying over r's signing bytes, or by a key
// k does not hold. It tells a signer what r already carries before they
// add to it; use Verify to decide whether r is accepted.
func (r *Release) CheckSignatures(k *trust.Keys) (*trust.Checked, error) {
	msg, sigs, err := r.signed()
	if err != nil {
		return nil, err
	}
	c, err := k.Check(msg, sigs)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	return c, nil
}

// signed returns r's signing bytes and its signatures, decoded.
func (r *Release) signed() ([]byte, []trust.Signature, error) {
	msg, err := r.SigningBytes()
	if err != nil {
		return nil, nil, err
	}
	sigs := make([]trust.Signature, 0, len(r.Signatures))
	for _, s := range r.Signatures {
		b, err := hex.DecodeString(s.Sig)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: signature by %s is not hex", ErrMalformed, s.KeyID)
		}
		sigs = append(sigs, trust.Signature{KeyID: s.KeyID, Sig: b})
	}
	return msg, sigs, nil
}
