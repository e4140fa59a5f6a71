package keys_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/testprog"
	"github.com/safeupdate/safeupdate/keys"
)

var allTypes = []keys.Type{keys.Ed25519, keys.ECDSAP256}

// openssl runs the real openssl binary in dir and returns its stdout.
func openssl(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	cmd := execOpenSSL(t, dir, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

func execOpenSSL(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(testprog.Path(t, "openssl"), args...)
	cmd.Dir = dir
	return cmd
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func equalPublic(a, b crypto.PublicKey) bool {
	return a.(interface{ Equal(crypto.PublicKey) bool }).Equal(b)
}

func TestGenerateMarshalParseRoundTrip(t *testing.T) {
	for _, typ := range allTypes {
		t.Run(string(typ), func(t *testing.T) {
			priv, err := keys.Generate(typ)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := keys.TypeOf(priv.Public()); err != nil || got != typ {
				t.Fatalf("TypeOf = %q, %v; want %q", got, err, typ)
			}

			pubPEM, err := keys.MarshalPublic(priv.Public())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(pubPEM, []byte("-----BEGIN PUBLIC KEY-----\n")) {
				t.Fatalf("public key is not PKIX PEM:\n%s", pubPEM)
			}
			pub, err := keys.ParsePublic(pubPEM)
			if err != nil {
				t.Fatal(err)
			}
			if !equalPublic(pub, priv.Public()) {
				t.Fatal("public key changed in a marshal/parse round trip")
			}

			privPEM, err := keys.MarshalPrivate(priv)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(privPEM, []byte("-----BEGIN PRIVATE KEY-----\n")) {
				t.Fatalf("private key is not PKCS#8 PEM:\n%s", privPEM)
			}
			priv2, err := keys.ParsePrivate(privPEM, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !equalPublic(priv2.Public(), priv.Public()) {
				t.Fatal("private key changed in a marshal/parse round trip")
			}

			// A signature by the re-read private key verifies with the
			// re-read public key, and the ids agree.
			signer, err := keys.NewSigner(priv2)
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("round trip " + string(typ))
			sig, err := keys.Sign(signer, msg)
			if err != nil {
				t.Fatal(err)
			}
			if err := keys.Verify(pub, msg, sig); err != nil {
				t.Fatal(err)
			}
			id1, err := keys.ID(priv.Public())
			if err != nil {
				t.Fatal(err)
			}
			id2, err := keys.ID(pub)
			if err != nil {
				t.Fatal(err)
			}
			if id1 != id2 || len(id1) != 64 {
				t.Fatalf("ids %q and %q differ or are not hex sha256", id1, id2)
			}
		})
	}
}

func TestGenerateRefusesUnknownType(t *testing.T) {
	for _, typ := range []keys.Type{"rsa", "ecdsa-p384", "ED25519"} {
		if k, err := keys.Generate(typ); err == nil || k != nil {
			t.Errorf("Generate(%q) = %v, %v; want an error", typ, k, err)
		}
	}
	k, err := keys.Generate("")
	if err != nil {
		t.Fatal(err)
	}
	if typ, _ := keys.TypeOf(k.Public()); typ != keys.Ed25519 {
		t.Fatalf("default key type is %q, want ed25519", typ)
	}
}

func TestVerifyRejectsWrongKeyOrMessage(t *testing.T) {
	for _, typ := range allTypes {
		t.Run(string(typ), func(t *testing.T) {
			priv, _ := keys.Generate(typ)
			other, _ := keys.Generate(typ)
			signer, err := keys.NewSigner(priv)
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("the signed message")
			sig, err := keys.Sign(signer, msg)
			if err != nil {
				t.Fatal(err)
			}
			if err := keys.Verify(priv.Public(), msg, sig); err != nil {
				t.Fatalf("good signature refused: %v", err)
			}
			cases := map[string]func() error{
				"other key":       func() error { return keys.Verify(other.Public(), msg, sig) },
				"other message":   func() error { return keys.Verify(priv.Public(), []byte("the signed messagf"), sig) },
				"empty signature": func() error { return keys.Verify(priv.Public(), msg, nil) },
				"flipped bit": func() error {
					bad := bytes.Clone(sig)
					bad[len(bad)-1] ^= 1
					return keys.Verify(priv.Public(), msg, bad)
				},
			}
			for name, verify := range cases {
				if err := verify(); !errors.Is(err, keys.ErrBadSignature) {
					t.Errorf("%s: err = %v, want ErrBadSignature", name, err)
				}
			}
		})
	}
}

// TestRejectsP1363ECDSASignature checks that an ECDSA signature has one
// encoding only: the r||s form that sigstore would also accept is refused.
func TestRejectsP1363ECDSASignature(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("message")
	digest := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	if s.Cmp(halfOrder) > 0 {
		s.Sub(elliptic.P256().Params().N, s) // the low-S form, the one Verify accepts
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Verify(&priv.PublicKey, msg, der); err != nil {
		t.Fatalf("the DER form of the same signature is refused: %v", err)
	}
	p1363 := make([]byte, 64)
	r.FillBytes(p1363[:32])
	s.FillBytes(p1363[32:])
	if !ecdsa.Verify(&priv.PublicKey, digest[:], new(big.Int).SetBytes(p1363[:32]), new(big.Int).SetBytes(p1363[32:])) {
		t.Fatal("test bug: the r||s signature is not valid")
	}
	if err := keys.Verify(&priv.PublicKey, msg, p1363); !errors.Is(err, keys.ErrBadSignature) {
		t.Fatalf("P1363 signature: err = %v, want ErrBadSignature", err)
	}
}

// halfOrder is n/2 for P-256: a low-S signature has s at most this.
var halfOrder = new(big.Int).Rsh(elliptic.P256().Params().N, 1)

// otherS returns the DER ECDSA P-256 signature sig with s replaced by n-s:
// the other encoding of the same signature, which crypto/ecdsa accepts too.
func otherS(sig []byte) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("not a DER signature: %v", err)
	}
	rs.S.Sub(elliptic.P256().Params().N, rs.S)
	return asn1.Marshal(rs)
}

// sOf returns the s of a DER ECDSA signature.
func sOf(t *testing.T, sig []byte) *big.Int {
	t.Helper()
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(sig, &rs); err != nil {
		t.Fatal(err)
	}
	return rs.S
}

// TestRejectsMalleableECDSASignature checks that an ECDSA signature (r, s)
// cannot be re-encoded as (r, n-s), which crypto/ecdsa and sigstore accept
// as valid: only the low-S form verifies.
func TestRejectsMalleableECDSASignature(t *testing.T) {
	priv, signer := p256Signer(t)
	msg := []byte("the signed message")
	sig, err := keys.Sign(signer, msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Verify(&priv.PublicKey, msg, sig); err != nil {
		t.Fatalf("the signature as made is refused: %v", err)
	}
	high, err := otherS(sig)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(msg)
	if !ecdsa.VerifyASN1(&priv.PublicKey, digest[:], high) {
		t.Fatal("test bug: (r, n-s) is not a valid signature")
	}
	err = keys.Verify(&priv.PublicKey, msg, high)
	if !errors.Is(err, keys.ErrBadSignature) {
		t.Fatalf("(r, n-s): err = %v, want ErrBadSignature", err)
	}
	if !strings.Contains(err.Error(), "low-S") {
		t.Errorf("the error does not say why: %v", err)
	}
}

// highSSigner stands for a signer this package did not make (hardware,
// KMS): it returns every ECDSA signature in its high-S form.
type highSSigner struct{ priv *ecdsa.PrivateKey }

func (h highSSigner) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return &h.priv.PublicKey, nil
}

func (h highSSigner) SignMessage(msg io.Reader, _ ...signature.SignOption) ([]byte, error) {
	data, err := io.ReadAll(msg)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(data)
	sig, err := ecdsa.SignASN1(rand.Reader, h.priv, digest[:])
	if err != nil {
		return nil, err
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(sig, &rs); err != nil {
		return nil, err
	}
	if rs.S.Cmp(halfOrder) <= 0 {
		return otherS(sig)
	}
	return sig, nil
}

// TestSignProducesLowSECDSA checks that every way of signing here makes the
// low-S form Verify accepts, whichever form crypto/ecdsa or the signer chose.
func TestSignProducesLowSECDSA(t *testing.T) {
	priv, ours := p256Signer(t)
	ways := map[string]func(msg []byte) ([]byte, error){
		"keys.Sign with NewSigner": func(msg []byte) ([]byte, error) { return keys.Sign(ours, msg) },
		"NewSigner's SignMessage":  func(msg []byte) ([]byte, error) { return ours.SignMessage(bytes.NewReader(msg)) },
		"keys.Sign with a high-S signer": func(msg []byte) ([]byte, error) {
			return keys.Sign(highSSigner{priv}, msg)
		},
	}
	for name, sign := range ways {
		t.Run(name, func(t *testing.T) {
			// Half of crypto/ecdsa's signatures are high-S: 32 in a row
			// low-S by chance happens once in 2^32 runs.
			for i := range 32 {
				msg := fmt.Appendf(nil, "message %d", i)
				sig, err := sign(msg)
				if err != nil {
					t.Fatal(err)
				}
				if sOf(t, sig).Cmp(halfOrder) > 0 {
					t.Fatalf("signature %d is high-S", i)
				}
				if err := keys.Verify(&priv.PublicKey, msg, sig); err != nil {
					t.Fatalf("signature %d: %v", i, err)
				}
			}
		})
	}
}

func TestIDMatchesGoTUF(t *testing.T) {
	for _, typ := range allTypes {
		t.Run(string(typ), func(t *testing.T) {
			priv, err := keys.Generate(typ)
			if err != nil {
				t.Fatal(err)
			}
			k, err := metadata.KeyFromPublicKey(priv.Public())
			if err != nil {
				t.Fatal(err)
			}
			want, err := k.ID()
			if err != nil {
				t.Fatal(err)
			}
			got, err := keys.ID(priv.Public())
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("keys.ID = %s, go-tuf says %s", got, want)
			}
		})
	}
}

// TestIDIsStable pins the key ids of two fixed keys. The ids appear in every
// release.json and root.json ever signed, so they must never change.
func TestIDIsStable(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	edPub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	// TUF's definition, computed here without go-tuf: the SHA-256 of the
	// canonical JSON of the key object.
	obj := `{"keytype":"ed25519","keyval":{"public":"` + hex.EncodeToString(edPub) + `"},"scheme":"ed25519"}`
	sum := sha256.Sum256([]byte(obj))

	ecPEM, err := os.ReadFile("testdata/p256-openssl.pem")
	if err != nil {
		t.Fatal(err)
	}
	ecPriv, err := keys.ParsePrivate(ecPEM, nil)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		pub  crypto.PublicKey
		want string
	}{
		{"ed25519 seed 00..1f", edPub, "63d00ee3cf4f5c61ad94efa696c68f13b608fe56ecea13fb144a6fd18e9235b9"},
		{"ed25519 by definition", edPub, hex.EncodeToString(sum[:])},
		{"p256 testdata key", ecPriv.Public(), "c22ead4d1c1e0fa151aadfa97c4230f282d377dd9c91f7e0ab2f23adea7c94d8"},
	} {
		got, err := keys.ID(tc.pub)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s: id %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestFingerprintIgnoresEncoding(t *testing.T) {
	priv, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := keys.MarshalPublic(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	// Comments around the PEM block and a foreign block before it change
	// the file, not the key.
	noisy := append([]byte("a comment\n-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"), pemBytes...)
	pub, err := keys.ParsePublic(noisy)
	if err != nil {
		t.Fatal(err)
	}
	a, err := keys.Fingerprint(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	b, err := keys.Fingerprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("fingerprints of the same key differ")
	}
	other, _ := keys.Generate(keys.ECDSAP256)
	c, _ := keys.Fingerprint(other.Public())
	if a == c {
		t.Fatal("fingerprints of different keys are equal")
	}
}

// ed25519PKIX builds a PKIX SubjectPublicKeyInfo for Ed25519 by hand, with
// a key of any length.
func ed25519PKIX(t *testing.T, key []byte) []byte {
	t.Helper()
	type algorithm struct{ OID asn1.ObjectIdentifier }
	der, err := asn1.Marshal(struct {
		Algorithm algorithm
		Key       asn1.BitString
	}{algorithm{asn1.ObjectIdentifier{1, 3, 101, 112}}, asn1.BitString{Bytes: key, BitLength: 8 * len(key)}})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestRejectsUnsupportedPublicKeys(t *testing.T) {
	dir := t.TempDir()
	openssl(t, dir, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", "rsa.pem")
	openssl(t, dir, "ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", "p384.pem")
	rsaPub := openssl(t, dir, "pkey", "-in", "rsa.pem", "-pubout")
	p384Pub := openssl(t, dir, "pkey", "-in", "p384.pem", "-pubout")

	// The hand-made encoder is right: with 32 bytes it makes a good key.
	good := make([]byte, 32)
	good[0] = 1
	goodPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ed25519PKIX(t, good)})
	if pub, err := keys.ParsePublic(goodPEM); err != nil || !bytes.Equal(pub.(ed25519.PublicKey), good) {
		t.Fatalf("hand-made 32-byte ed25519 key: %v", err)
	}
	valid, err := keys.MarshalPublic(ed25519.PublicKey(good))
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		data  []byte
		isErr error // when non-nil, the error must wrap it
	}{
		{"rsa", rsaPub, keys.ErrUnsupportedKey},
		{"p384", p384Pub, keys.ErrUnsupportedKey},
		{"ed25519 of 31 bytes", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ed25519PKIX(t, good[:31])}), nil},
		{"ed25519 of 33 bytes", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ed25519PKIX(t, append(good, 0))}), nil},
		{"no PEM", []byte("not a key"), keys.ErrNotPEM},
		{"empty", nil, keys.ErrNotPEM},
		{"private key block only", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}), keys.ErrNotPEM},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("garbage")}), nil},
		{"oversized", append(valid, bytes.Repeat([]byte("\n"), limits.KeyFile)...), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub, err := keys.ParsePublic(tc.data)
			if err == nil || pub != nil {
				t.Fatalf("ParsePublic = %v, %v; want an error", pub, err)
			}
			if tc.isErr != nil && !errors.Is(err, tc.isErr) {
				t.Fatalf("err = %v, want %v", err, tc.isErr)
			}
			if !strings.HasPrefix(err.Error(), "keys: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}

	// The same refusals hold for keys in memory.
	for name, pub := range map[string]crypto.PublicKey{
		"ed25519 of 31 bytes": ed25519.PublicKey(good[:31]),
		"p384":                mustECDSA(t, elliptic.P384()),
		"nil":                 nil,
	} {
		if _, err := keys.TypeOf(pub); !errors.Is(err, keys.ErrUnsupportedKey) {
			t.Errorf("TypeOf(%s): err = %v, want ErrUnsupportedKey", name, err)
		}
		if _, err := keys.MarshalPublic(pub); !errors.Is(err, keys.ErrUnsupportedKey) {
			t.Errorf("MarshalPublic(%s): err = %v, want ErrUnsupportedKey", name, err)
		}
		if _, err := keys.ID(pub); !errors.Is(err, keys.ErrUnsupportedKey) {
			t.Errorf("ID(%s): err = %v, want ErrUnsupportedKey", name, err)
		}
		if err := keys.Verify(pub, []byte("m"), []byte("s")); !errors.Is(err, keys.ErrUnsupportedKey) {
			t.Errorf("Verify(%s): err = %v, want ErrUnsupportedKey", name, err)
		}
	}
}

func mustECDSA(t *testing.T, c elliptic.Curve) *ecdsa.PublicKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey
}

func FuzzParsePublic(f *testing.F) {
	for _, typ := range allTypes {
		priv, err := keys.Generate(typ)
		if err != nil {
			f.Fatal(err)
		}
		p, err := keys.MarshalPublic(priv.Public())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAs48fqyW72kvKPu8aXPuG/REOxXBsKoAtWTNPo4D1oBo=\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pub, err := keys.ParsePublic(data)
		if err != nil {
			if pub != nil {
				t.Fatalf("ParsePublic returned a key with error %v", err)
			}
			return
		}
		if _, err := keys.TypeOf(pub); err != nil {
			t.Fatalf("ParsePublic accepted a key TypeOf refuses: %v", err)
		}
		if _, err := keys.ID(pub); err != nil {
			t.Fatalf("ParsePublic accepted a key without an id: %v", err)
		}
		// What is accepted re-encodes to a key that parses back equal.
		again, err := keys.MarshalPublic(pub)
		if err != nil {
			t.Fatal(err)
		}
		pub2, err := keys.ParsePublic(again)
		if err != nil || !equalPublic(pub, pub2) {
			t.Fatalf("re-encoded key does not parse back equal: %v", err)
		}
	})
}

// p256Signer returns a new P-256 key and the signer keys.NewSigner makes
// of it.
func p256Signer(t *testing.T) (*ecdsa.PrivateKey, signature.Signer) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return priv, s
}
