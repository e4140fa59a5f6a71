package trust_test

import (
	"bytes"
	"crypto"
	"crypto/elliptic"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/trust"
)

// rtNow is the fixed "now" of these tests; roots expire a year later.
var (
	rtNow     = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	rtExpires = rtNow.AddDate(1, 0, 0)
)

// rtKey is a real key pair with its signer and TUF id.
type rtKey struct {
	signer signature.Signer
	pub    crypto.PublicKey
	id     string
}

func rtNewKey(t testing.TB, typ keys.Type) rtKey {
	t.Helper()
	priv, err := keys.Generate(typ)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	id, err := keys.ID(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return rtKey{signer: s, pub: priv.Public(), id: id}
}

func rtRole(threshold int, ks ...rtKey) trust.RoleKeys {
	rk := trust.RoleKeys{Threshold: threshold}
	for _, k := range ks {
		rk.Keys = append(rk.Keys, k.pub)
	}
	return rk
}

// rtSign signs d with each key and returns the written root.
func rtSign(t testing.TB, d *trust.RootDraft, ks ...rtKey) []byte {
	t.Helper()
	for _, k := range ks {
		if _, err := d.Sign(k.signer); err != nil {
			t.Fatal(err)
		}
	}
	out, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rtKeys is a cast of keys: root signers A and B, release keys T1 to T3, a
// channel key S.
type rtKeys struct{ a, b, t1, t2, t3, s rtKey }

func rtCast(t testing.TB) rtKeys {
	return rtKeys{
		a: rtNewKey(t, keys.Ed25519), b: rtNewKey(t, keys.ECDSAP256),
		t1: rtNewKey(t, keys.Ed25519), t2: rtNewKey(t, keys.ECDSAP256), t3: rtNewKey(t, keys.Ed25519),
		s: rtNewKey(t, keys.Ed25519),
	}
}

// rtFirst returns version 1: root key A, release key T1, channel key S.
func rtFirst(t testing.TB, c rtKeys) (*trust.Root, []byte) {
	t.Helper()
	data := rtSign(t, trust.NewRootDraft(rtRole(1, c.a), rtRole(1, c.t1), rtRole(1, c.s), rtExpires), c.a)
	r, err := trust.NewRoot(data)
	if err != nil {
		t.Fatal(err)
	}
	return r, data
}

func TestRootRotationAccepted(t *testing.T) {
	c := rtCast(t)
	r1, data1 := rtFirst(t, c)
	d := trust.NextRoot(r1)
	d.Root = rtRole(1, c.b)
	d.Targets = rtRole(1, c.t2)
	d.Expires = rtExpires.AddDate(1, 0, 0)
	data2 := rtSign(t, d, c.a, c.b)
	r2, err := r1.Update(data2)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Version() != 2 || !r2.Expires().Equal(d.Expires) || !bytes.Equal(r2.Bytes(), data2) {
		t.Errorf("root 2: version %d, expires %v", r2.Version(), r2.Expires())
	}
	if err := r2.CheckExpiry(rtNow); err != nil {
		t.Error(err)
	}
	if r1.Version() != 1 || !bytes.Equal(r1.Bytes(), data1) {
		t.Error("Update changed the root it was called on")
	}
	// Root 3 needs B now, not A.
	d3 := trust.NextRoot(r2)
	if _, err := r2.Update(rtSign(t, d3, c.a)); !errors.Is(err, trust.ErrThreshold) {
		t.Errorf("root 3 signed by the retired key A: got %v, want ErrThreshold", err)
	}
	if _, err := r2.Update(rtSign(t, trust.NextRoot(r2), c.b)); err != nil {
		t.Errorf("root 3 signed by B: %v", err)
	}
}

func TestRejectsRotationSignedOnlyByNewKeys(t *testing.T) {
	c := rtCast(t)
	r1, _ := rtFirst(t, c)
	d := trust.NextRoot(r1)
	d.Root = rtRole(1, c.b)
	_, err := r1.Update(rtSign(t, d, c.b))
	if !errors.Is(err, trust.ErrThreshold) {
		t.Fatalf("got %v, want ErrThreshold", err)
	}
	t.Log(err)
}

func TestRejectsRotationSignedOnlyByOldKeys(t *testing.T) {
	c := rtCast(t)
	r1, _ := rtFirst(t, c)
	d := trust.NextRoot(r1)
	d.Root = rtRole(1, c.b)
	_, err := r1.Update(rtSign(t, d, c.a))
	if !errors.Is(err, trust.ErrThreshold) {
		t.Fatalf("got %v, want ErrThreshold", err)
	}
	t.Log(err)
}

func TestRejectsRootVersionRollback(t *testing.T) {
	c := rtCast(t)
	r1, data1 := rtFirst(t, c)
	data2 := rtSign(t, trust.NextRoot(r1), c.a)
	r2, err := r1.Update(data2)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"older": data1, "same": data2} {
		if _, err := r2.Update(data); !errors.Is(err, trust.ErrRootVersion) {
			t.Errorf("%s root after version 2: got %v, want ErrRootVersion", name, err)
		}
	}
}

func TestRejectsRootVersionSkip(t *testing.T) {
	c := rtCast(t)
	r1, _ := rtFirst(t, c)
	d := trust.NextRoot(r1)
	d.Version = 3
	if _, err := r1.Update(rtSign(t, d, c.a)); !errors.Is(err, trust.ErrRootVersion) {
		t.Fatalf("got %v, want ErrRootVersion", err)
	}
}

func TestRejectsExpiredRoot(t *testing.T) {
	c := rtCast(t)
	old := trust.NewRootDraft(rtRole(1, c.a), rtRole(1, c.t1), rtRole(1, c.s), rtNow.AddDate(-1, 0, 0))
	r1, err := trust.NewRoot(rtSign(t, old, c.a))
	if err != nil {
		t.Fatalf("pinning an expired root must work, so that it can be updated: %v", err)
	}
	if err := r1.CheckExpiry(rtNow); !errors.Is(err, trust.ErrExpired) {
		t.Errorf("got %v, want ErrExpired", err)
	}
	// An expired intermediate root is fine; only the last one counts.
	d := trust.NextRoot(r1)
	d.Expires = rtExpires
	r2, err := r1.Update(rtSign(t, d, c.a))
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.CheckExpiry(rtNow); err != nil {
		t.Error(err)
	}
	if err := r2.CheckExpiry(rtExpires); !errors.Is(err, trust.ErrExpired) {
		t.Errorf("at the expiry instant: got %v, want ErrExpired", err)
	}
}

func TestRejectsRevokedReleaseKeyAfterRotation(t *testing.T) {
	c := rtCast(t)
	r1, _ := rtFirst(t, c)
	d := trust.NextRoot(r1)
	d.Targets = rtRole(1, c.t2)
	r2, err := r1.Update(rtSign(t, d, c.a))
	if err != nil {
		t.Fatal(err)
	}
	rel := &release.Release{
		Binary: "app.bz2", Hash: strings.Repeat("ab", 32), Size: 100,
		Version: "1.0.0", OS: "linux", Arch: "amd64",
		CompressedHash: strings.Repeat("cd", 32), CompressedSize: 80,
	}
	if _, err := rel.Sign(c.t1.signer); err != nil {
		t.Fatal(err)
	}
	if _, err := rel.Verify(r1.Targets()); err != nil {
		t.Fatalf("root 1 trusts T1: %v", err)
	}
	if _, err := rel.Verify(r2.Targets()); !errors.Is(err, trust.ErrThreshold) {
		t.Fatalf("root 2 revoked T1: got %v, want ErrThreshold", err)
	}
	if _, err := rel.Sign(c.t2.signer); err != nil {
		t.Fatal(err)
	}
	if _, err := rel.Verify(r2.Targets()); err != nil {
		t.Fatalf("root 2 trusts T2: %v", err)
	}
}

func TestRootThresholdTwoOfThree(t *testing.T) {
	c := rtCast(t)
	data := rtSign(t, trust.NewRootDraft(rtRole(2, c.a, c.b, c.s), rtRole(2, c.t1, c.t2, c.t3), rtRole(1, c.s), rtExpires), c.a, c.b)
	r, err := trust.NewRoot(data)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("release signing bytes")
	sign := func(k rtKey) trust.Signature {
		sig, err := keys.Sign(k.signer, msg)
		if err != nil {
			t.Fatal(err)
		}
		return trust.Signature{KeyID: k.id, Sig: sig}
	}
	s1, s2, s3 := sign(c.t1), sign(c.t2), sign(c.t3)
	forged := trust.Signature{KeyID: c.t2.id, Sig: s1.Sig}
	for _, tc := range []struct {
		name string
		sigs []trust.Signature
		ok   bool
	}{
		{"two of three", []trust.Signature{s1, s3}, true},
		{"all three", []trust.Signature{s3, s2, s1}, true},
		{"one", []trust.Signature{s2}, false},
		{"one twice", []trust.Signature{s1, s1}, false},
		{"one and a forged one", []trust.Signature{s1, forged}, false},
		{"one and a channel key", []trust.Signature{s1, sign(c.s)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Targets().Verify(msg, tc.sigs)
			if tc.ok && err != nil {
				t.Errorf("threshold met, got %v", err)
			}
			if !tc.ok && !errors.Is(err, trust.ErrThreshold) {
				t.Errorf("threshold not met: got %v, want ErrThreshold", err)
			}
		})
	}
	// The root role also needs two: one root signature is not enough.
	if _, err := trust.NewRoot(rtSign(t, trust.NewRootDraft(rtRole(2, c.a, c.b, c.s), rtRole(1, c.t1), rtRole(1, c.s), rtExpires), c.a)); !errors.Is(err, trust.ErrThreshold) {
		t.Errorf("root signed by one of two: got %v, want ErrThreshold", err)
	}
}

func TestRejectsChannelKeyForReleases(t *testing.T) {
	c := rtCast(t)
	r, _ := rtFirst(t, c)
	msg := []byte("release signing bytes")
	sig, err := keys.Sign(c.s.signer, msg)
	if err != nil {
		t.Fatal(err)
	}
	sigs := []trust.Signature{{KeyID: c.s.id, Sig: sig}}
	if _, err := r.Timestamp().Verify(msg, sigs); err != nil {
		t.Fatalf("timestamp role: %v", err)
	}
	if _, err := r.Targets().Verify(msg, sigs); !errors.Is(err, trust.ErrThreshold) {
		t.Errorf("targets role accepted a timestamp key: %v", err)
	}
}

func TestRejectsSelfUnsignedRoot(t *testing.T) {
	c := rtCast(t)
	d := trust.NewRootDraft(rtRole(1, c.a), rtRole(1, c.t1), rtRole(1, c.s), rtExpires)
	for name, data := range map[string][]byte{
		"unsigned":          rtSign(t, d),
		"signed by targets": rtSign(t, trust.NewRootDraft(rtRole(1, c.a), rtRole(1, c.t1), rtRole(1, c.s), rtExpires), c.t1),
	} {
		if r, err := trust.NewRoot(data); !errors.Is(err, trust.ErrThreshold) || r != nil {
			t.Errorf("%s: got %v, want ErrThreshold", name, err)
		}
	}
}

func TestRootBytesIsACopy(t *testing.T) {
	c := rtCast(t)
	r, data := rtFirst(t, c)
	b := r.Bytes()
	b[0] = 'x'
	if !bytes.Equal(r.Bytes(), data) {
		t.Error("changing Bytes' result changed the root")
	}
	if got := trust.RootFileName(12); got != "12.root.json" {
		t.Errorf("RootFileName(12) = %q", got)
	}
}

// TestRejectsMalleableECDSASignatureInRoot checks that a root's ECDSA
// signature re-encoded as (r, n-s), which go-tuf accepts, is refused: roots
// are verified through keys.Verify, not go-tuf's verifier.
func TestRejectsMalleableECDSASignatureInRoot(t *testing.T) {
	c := rtCast(t)
	data := rtSign(t, trust.NewRootDraft(rtRole(1, c.b), rtRole(1, c.t1), rtRole(1, c.s), rtExpires), c.b)
	if _, err := trust.NewRoot(data); err != nil {
		t.Fatalf("the root as signed is refused: %v", err)
	}
	meta, err := new(metadata.Metadata[metadata.RootType]).FromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(meta.Signatures[0].Signature, &rs); err != nil {
		t.Fatal(err)
	}
	rs.S.Sub(elliptic.P256().Params().N, rs.S)
	high, err := asn1.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	malleated := bytes.Replace(data, []byte(hex.EncodeToString(meta.Signatures[0].Signature)), []byte(hex.EncodeToString(high)), 1)
	tufMeta, err := new(metadata.Metadata[metadata.RootType]).FromBytes(malleated)
	if err != nil {
		t.Fatal(err)
	}
	if err := tufMeta.VerifyDelegate(metadata.ROOT, tufMeta); err != nil {
		t.Fatalf("test bug: go-tuf refuses the (r, n-s) root too: %v", err)
	}
	if r, err := trust.NewRoot(malleated); !errors.Is(err, trust.ErrThreshold) || r != nil {
		t.Fatalf("root with (r, n-s): got %v, want ErrThreshold", err)
	}
}
