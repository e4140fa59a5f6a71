package trust_test

import (
	"bytes"
	"crypto"
	"errors"
	"slices"
	"testing"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/trust"
)

// signer is a real key pair with its TUF id.
type signer struct {
	priv crypto.Signer
	pub  crypto.PublicKey
	id   string
}

func newSigner(t *testing.T, typ keys.Type) signer {
	t.Helper()
	priv, err := keys.Generate(typ)
	if err != nil {
		t.Fatal(err)
	}
	id, err := keys.ID(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return signer{priv: priv, pub: priv.Public(), id: id}
}

func (s signer) sign(t *testing.T, msg []byte) trust.Signature {
	t.Helper()
	ss, err := keys.NewSigner(s.priv)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := keys.Sign(ss, msg)
	if err != nil {
		t.Fatal(err)
	}
	return trust.Signature{KeyID: s.id, Sig: sig}
}

// threeKeys returns three signers of mixed types.
func threeKeys(t *testing.T) []signer {
	return []signer{newSigner(t, keys.Ed25519), newSigner(t, keys.ECDSAP256), newSigner(t, keys.Ed25519)}
}

func pinned(t *testing.T, threshold int, ss ...signer) *trust.Keys {
	t.Helper()
	pubs := make([]crypto.PublicKey, len(ss))
	for i, s := range ss {
		pubs[i] = s.pub
	}
	k, err := trust.NewKeys(pubs, threshold)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var msg = []byte(`{"binary":"app.bz2","version":"1.0.0"}`)

func TestThresholdOneMet(t *testing.T) {
	a := newSigner(t, keys.Ed25519)
	k := pinned(t, 1, a)
	ids, err := k.Verify(msg, []trust.Signature{a.sign(t, msg)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{a.id}) {
		t.Fatalf("ids = %v, want [%s]", ids, a.id)
	}
	if k.Threshold() != 1 || !slices.Equal(k.IDs(), []string{a.id}) {
		t.Fatalf("Threshold() = %d, IDs() = %v", k.Threshold(), k.IDs())
	}
}

func TestThresholdTwoOfThree(t *testing.T) {
	s := threeKeys(t)
	k := pinned(t, 2, s...)
	for _, tc := range []struct {
		name    string
		signers []int
		ok      bool
	}{
		{"none", nil, false},
		{"one", []int{0}, false},
		{"another one", []int{1}, false},
		{"two", []int{0, 1}, true},
		{"two others", []int{2, 1}, true},
		{"three", []int{0, 1, 2}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sigs []trust.Signature
			var want []string
			for _, i := range tc.signers {
				sigs = append(sigs, s[i].sign(t, msg))
				want = append(want, s[i].id)
			}
			slices.Sort(want)
			ids, err := k.Verify(msg, sigs)
			if !tc.ok {
				if !errors.Is(err, trust.ErrThreshold) || ids != nil {
					t.Fatalf("Verify = %v, %v; want ErrThreshold", ids, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids, want) {
				t.Fatalf("ids = %v, want %v", ids, want)
			}
		})
	}
}

func TestRejectsDuplicateSignatureCountedTwice(t *testing.T) {
	s := threeKeys(t)
	k := pinned(t, 2, s...)
	first := s[0].sign(t, msg)
	// Ed25519 signatures are deterministic, so re-signing repeats the entry;
	// ECDSA ones are randomized, so the two entries differ but both verify.
	for name, sigs := range map[string][]trust.Signature{
		"identical entries":  {first, first},
		"ecdsa signed twice": {s[1].sign(t, msg), s[1].sign(t, msg)},
	} {
		ids, err := k.Verify(msg, sigs)
		if !errors.Is(err, trust.ErrThreshold) || ids != nil {
			t.Errorf("%s: Verify = %v, %v; want ErrThreshold", name, ids, err)
		}
	}
	// With a second key the same entries do meet the threshold, once each.
	ids, err := k.Verify(msg, []trust.Signature{first, first, s[2].sign(t, msg)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 {
		t.Fatalf("ids = %v, want two distinct keys", ids)
	}
}

func TestRejectsSameKeyUnderTwoIDs(t *testing.T) {
	// The trusted map of a TUF root could name one key under two ids;
	// VerifyThreshold must still count it once.
	a := newSigner(t, keys.Ed25519)
	b := newSigner(t, keys.Ed25519)
	trusted := map[string]crypto.PublicKey{a.id: a.pub, "alias": a.pub, b.id: b.pub}
	sa := a.sign(t, msg)
	alias := trust.Signature{KeyID: "alias", Sig: sa.Sig}
	if ids, err := trust.VerifyThreshold(msg, []trust.Signature{sa, alias}, trusted, 2); !errors.Is(err, trust.ErrThreshold) {
		t.Fatalf("one key under two ids met a threshold of 2: %v, %v", ids, err)
	}
	if _, err := trust.VerifyThreshold(msg, []trust.Signature{sa, alias, b.sign(t, msg)}, trusted, 2); err != nil {
		t.Fatalf("two distinct keys refused: %v", err)
	}
}

func TestUnknownKeyIgnored(t *testing.T) {
	a := newSigner(t, keys.Ed25519)
	stranger := newSigner(t, keys.Ed25519)
	k := pinned(t, 1, a)

	// A stranger's signature alone does not count.
	if ids, err := k.Verify(msg, []trust.Signature{stranger.sign(t, msg)}); !errors.Is(err, trust.ErrThreshold) {
		t.Fatalf("untrusted key accepted: %v, %v", ids, err)
	}
	// A stranger's signature claiming the trusted key's id does not count.
	forged := stranger.sign(t, msg)
	forged.KeyID = a.id
	if ids, err := k.Verify(msg, []trust.Signature{forged}); !errors.Is(err, trust.ErrThreshold) {
		t.Fatalf("signature under a borrowed key id accepted: %v, %v", ids, err)
	}
	// Next to a trusted signature, it is neither an error nor counted.
	ids, err := k.Verify(msg, []trust.Signature{stranger.sign(t, msg), a.sign(t, msg)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{a.id}) {
		t.Fatalf("ids = %v, want only the trusted key", ids)
	}
}

func TestRejectsBadSignatureByTrustedKey(t *testing.T) {
	s := threeKeys(t)
	k := pinned(t, 2, s...)
	for _, tc := range []struct {
		name string
		bad  trust.Signature
	}{
		{"other message", s[1].sign(t, []byte("other message"))},
		{"flipped bit", func() trust.Signature {
			sig := s[1].sign(t, msg)
			sig.Sig = bytes.Clone(sig.Sig)
			sig.Sig[len(sig.Sig)/2] ^= 0x10
			return sig
		}()},
		{"empty", trust.Signature{KeyID: s[1].id}},
		{"another key's signature", trust.Signature{KeyID: s[1].id, Sig: s[0].sign(t, msg).Sig}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, err := k.Verify(msg, []trust.Signature{s[0].sign(t, msg), tc.bad})
			if !errors.Is(err, trust.ErrThreshold) || ids != nil {
				t.Fatalf("Verify = %v, %v; want ErrThreshold", ids, err)
			}
			// A good signature by the same key after the bad one counts.
			ids, err = k.Verify(msg, []trust.Signature{s[0].sign(t, msg), tc.bad, s[1].sign(t, msg)})
			if err != nil || len(ids) != 2 {
				t.Fatalf("Verify = %v, %v; want two keys", ids, err)
			}
		})
	}
}

// Check sorts every signature, as VerifyThreshold counts them: a bad
// entry is reported even next to a good one by the same key.
func TestCheckSortsSignatures(t *testing.T) {
	s := threeKeys(t)
	stranger := newSigner(t, keys.Ed25519)
	k := pinned(t, 3, s...)
	bad := s[1].sign(t, []byte("other message"))
	c, err := k.Check(msg, []trust.Signature{s[0].sign(t, msg), stranger.sign(t, msg), bad, s[0].sign(t, msg), s[1].sign(t, msg), stranger.sign(t, msg)})
	if err != nil {
		t.Fatal(err)
	}
	valid := []string{s[0].id, s[1].id}
	slices.Sort(valid)
	if !slices.Equal(c.Valid, valid) || !slices.Equal(c.Invalid, []string{s[1].id}) || !slices.Equal(c.Unknown, []string{stranger.id}) {
		t.Fatalf("Check = %+v", c)
	}
	if ids, err := k.Verify(msg, []trust.Signature{s[0].sign(t, msg), bad, s[1].sign(t, msg)}); !errors.Is(err, trust.ErrThreshold) || ids != nil {
		t.Fatalf("Verify = %v, %v; want ErrThreshold (2 of 3)", ids, err)
	}
}

func TestNewKeysRefusals(t *testing.T) {
	a := newSigner(t, keys.Ed25519)
	b := newSigner(t, keys.ECDSAP256)
	aAgain, err := keys.ParsePublic(mustMarshal(t, a.pub))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		pubs      []crypto.PublicKey
		threshold int
	}{
		{"no keys", nil, 1},
		{"duplicate key", []crypto.PublicKey{a.pub, b.pub, a.pub}, 1},
		{"duplicate key from another encoding", []crypto.PublicKey{a.pub, aAgain}, 1},
		{"threshold 0", []crypto.PublicKey{a.pub, b.pub}, 0},
		{"negative threshold", []crypto.PublicKey{a.pub}, -1},
		{"threshold above key count", []crypto.PublicKey{a.pub, b.pub}, 3},
		{"unsupported key", []crypto.PublicKey{a.pub, []byte("not a key")}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := trust.NewKeys(tc.pubs, tc.threshold)
			if err == nil || k != nil {
				t.Fatalf("NewKeys = %v, %v; want an error", k, err)
			}
		})
	}
	if _, err := trust.NewKeys([]crypto.PublicKey{a.pub, b.pub}, 2); err != nil {
		t.Fatalf("threshold equal to the key count refused: %v", err)
	}
}

func mustMarshal(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	p, err := keys.MarshalPublic(pub)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRejectsTooManySignatures(t *testing.T) {
	a := newSigner(t, keys.Ed25519)
	k := pinned(t, 1, a)
	good := a.sign(t, msg)
	sigs := make([]trust.Signature, limits.Signatures)
	for i := range sigs {
		sigs[i] = newSigner(t, keys.Ed25519).sign(t, msg)
	}
	sigs[len(sigs)-1] = good
	if _, err := k.Verify(msg, sigs); err != nil {
		t.Fatalf("%d signatures (the limit) refused: %v", len(sigs), err)
	}
	sigs = append(sigs, good)
	ids, err := k.Verify(msg, sigs)
	if err == nil || ids != nil {
		t.Fatalf("%d signatures accepted: %v", len(sigs), ids)
	}
}

func TestVerifyThresholdRefusesZeroThreshold(t *testing.T) {
	a := newSigner(t, keys.Ed25519)
	trusted := map[string]crypto.PublicKey{a.id: a.pub}
	for _, th := range []int{0, -1} {
		if ids, err := trust.VerifyThreshold(msg, nil, trusted, th); err == nil {
			t.Errorf("threshold %d with no signatures accepted: %v", th, ids)
		}
	}
}
