package channel

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/platform"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/trust"
)

// maxSigLen bounds one signature (ECDSA P-256 DER is at most 72 bytes).
const maxSigLen = 512

var (
	hexKeyID = regexp.MustCompile(`^[0-9a-f]{64}$`)
	hexBytes = regexp.MustCompile(`^([0-9a-f]{2})+$`)
)

// New starts an unsigned channel file named name that points to release
// version on platforms ("os/arch", at least one), numbered seq (greater
// than the channel's previous file; at least 1) and expiring at expires
// (written in UTC, whole seconds). Sign it, then Marshal it.
func New(name, version string, platforms []string, seq int64, expires time.Time) (*Channel, error) {
	return NewStaged(name, version, platforms, seq, expires, Full)
}

// NewStaged is New for a channel that offers version to rollout parts per
// million of clients (0 to Full; see ParseRollout). Below Full the file is
// of TypeStaged, which clients that predate rollouts refuse; at Full it is
// the same file New writes.
func NewStaged(name, version string, platforms []string, seq int64, expires time.Time, rollout int64) (*Channel, error) {
	if rollout < 0 || rollout > Full {
		return nil, fmt.Errorf("channel: rollout %d parts per million is not from 0 to %d", rollout, Full)
	}
	if seq < 1 {
		return nil, fmt.Errorf("channel: version %d is less than 1", seq)
	}
	exp := expires.UTC().Truncate(time.Second)
	if expires.IsZero() || exp.Year() < 1 || exp.Year() > 9999 {
		return nil, fmt.Errorf("channel: expiry %v is out of range", expires)
	}
	sorted := slices.Clone(platforms)
	slices.Sort(sorted)
	list := make([]any, len(sorted))
	for i, p := range sorted {
		list[i] = p
	}
	signed := map[string]any{
		"_type":     Type,
		"name":      name,
		"version":   json.Number(strconv.FormatInt(seq, 10)),
		"expires":   exp.Format(time.RFC3339),
		"release":   version,
		"platforms": list,
	}
	if rollout < Full {
		signed["_type"] = TypeStaged
		signed[rolloutMember] = json.Number(strconv.FormatInt(rollout, 10))
	}
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if err := validRelease(version); err != nil {
		return nil, fmt.Errorf("channel: %w", err)
	}
	if err := validPlatforms(sorted); err != nil {
		return nil, fmt.Errorf("channel: %w", err)
	}
	return fromSigned(signed)
}

// Sign adds a signature by s over c's signing bytes. If c already holds a
// valid signature by the same key, c is unchanged and added is false; an
// invalid one by that key is replaced.
func (c *Channel) Sign(s signature.Signer) (added bool, err error) {
	pub, err := s.PublicKey()
	if err != nil {
		return false, fmt.Errorf("channel: %w", err)
	}
	id, err := keys.ID(pub)
	if err != nil {
		return false, fmt.Errorf("channel: %w", err)
	}
	msg, err := c.SigningBytes()
	if err != nil {
		return false, err
	}
	kept := c.sigs[:0:0]
	for _, old := range c.sigs {
		if old.KeyID != id {
			kept = append(kept, old)
		} else if keys.Verify(pub, msg, old.Sig) == nil {
			return false, nil
		}
	}
	if len(kept) >= limits.Signatures {
		return false, fmt.Errorf("channel: already %d signatures, the limit", len(kept))
	}
	sig, err := keys.Sign(s, msg)
	if err != nil {
		return false, err
	}
	if err := keys.Verify(pub, msg, sig); err != nil {
		return false, fmt.Errorf("channel: fresh signature does not verify: %w", err)
	}
	c.sigs = append(kept, trust.Signature{KeyID: id, Sig: sig})
	return true, nil
}

// Marshal encodes c as indented JSON with its signatures. The result is
// parsed back before it is returned.
func (c *Channel) Marshal() ([]byte, error) {
	sigs := make([]map[string]string, 0, len(c.sigs))
	for _, s := range c.sigs {
		sigs = append(sigs, map[string]string{"keyid": s.KeyID, "sig": hex.EncodeToString(s.Sig)})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"signed": c.signed, "signatures": sigs}); err != nil {
		return nil, fmt.Errorf("channel: encoding: %w", err)
	}
	if _, err := Parse(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("channel: refusing to write an invalid channel file: %w", err)
	}
	return buf.Bytes(), nil
}

// parseSignatures reads the "signatures" array: at most limits.Signatures
// entries, each exactly a TUF key id and a hex signature, one per key id.
func parseSignatures(v any) ([]trust.Signature, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: \"signatures\" is missing or not an array", ErrMalformed)
	}
	if len(list) > limits.Signatures {
		return nil, fmt.Errorf("%w: %d signatures, the limit is %d", ErrMalformed, len(list), limits.Signatures)
	}
	sigs := make([]trust.Signature, 0, len(list))
	seen := make(map[string]bool)
	for i, e := range list {
		obj, ok := e.(map[string]any)
		if !ok || len(obj) != 2 {
			return nil, fmt.Errorf("%w: signature %d: want an object of keyid and sig", ErrMalformed, i)
		}
		id, _ := obj["keyid"].(string)
		sig, _ := obj["sig"].(string)
		if !hexKeyID.MatchString(id) {
			return nil, fmt.Errorf("%w: signature %d: keyid is not 64 lower-case hex digits", ErrMalformed, i)
		}
		if len(sig) > 2*maxSigLen || !hexBytes.MatchString(sig) {
			return nil, fmt.Errorf("%w: signature %d: sig is not lower-case hex of 1 to 512 bytes", ErrMalformed, i)
		}
		if seen[id] {
			return nil, fmt.Errorf("%w: two signatures by key %s", ErrMalformed, id[:16])
		}
		seen[id] = true
		b, _ := hex.DecodeString(sig)
		sigs = append(sigs, trust.Signature{KeyID: id, Sig: b})
	}
	return sigs, nil
}

func validRelease(v string) error {
	return release.ValidVersion(v)
}

// validPlatforms checks that each platform is an "os/arch" Go knows, once.
func validPlatforms(ps []string) error {
	if len(ps) == 0 {
		return fmt.Errorf("no platforms")
	}
	seen := make(map[string]bool, len(ps))
	for _, p := range ps {
		goos, goarch, ok := splitPlatform(p)
		if !ok || !platform.Known(goos, goarch) {
			return fmt.Errorf("platform %q is not an os/arch Go knows (see go tool dist list)", p)
		}
		if seen[p] {
			return fmt.Errorf("platform %q is listed twice", p)
		}
		seen[p] = true
	}
	return nil
}
