package keys_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"testing"

	"github.com/safeupdate/safeupdate/keys"
)

// opaqueSigner stands for a key outside the process (a KMS, a token): a
// crypto.Signer that is not one of the in-memory key types. It signs with
// key and claims pub; high makes every ECDSA signature high-S.
type opaqueSigner struct {
	key  crypto.Signer
	pub  crypto.PublicKey
	high bool
}

func (o opaqueSigner) Public() crypto.PublicKey { return o.pub }

func (o opaqueSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := o.key.Sign(r, digest, opts)
	if _, ok := o.key.(*ecdsa.PrivateKey); err != nil || !ok || !o.high {
		return sig, err
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(sig, &rs); err != nil {
		return nil, err
	}
	if rs.S.Cmp(halfOrder) > 0 {
		return sig, nil
	}
	return otherS(sig)
}

// TestSignNormalisesExternalSigner checks that a signer outside the process
// signs in the scheme of its key type and that keys.Sign turns its high-S
// ECDSA signatures into the low-S form Verify accepts.
func TestSignNormalisesExternalSigner(t *testing.T) {
	for _, typ := range allTypes {
		t.Run(string(typ), func(t *testing.T) {
			priv, err := keys.Generate(typ)
			if err != nil {
				t.Fatal(err)
			}
			s, err := keys.NewSigner(opaqueSigner{key: priv, pub: priv.Public(), high: true})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 8 {
				msg := fmt.Appendf(nil, "message %d", i)
				sig, err := keys.Sign(s, msg)
				if err != nil {
					t.Fatal(err)
				}
				if err := keys.Verify(priv.Public(), msg, sig); err != nil {
					t.Fatalf("signature %d: %v", i, err)
				}
				if typ == keys.ECDSAP256 && sOf(t, sig).Cmp(halfOrder) > 0 {
					t.Fatalf("signature %d is high-S", i)
				}
			}
		})
	}
}

// TestRejectsSignatureByAnotherKey checks that a signer whose signatures are
// not by the public key it names (a KMS alias moved to another key, a
// confused token) fails at signing time, before anything is written.
func TestRejectsSignatureByAnotherKey(t *testing.T) {
	for _, typ := range allTypes {
		t.Run(string(typ), func(t *testing.T) {
			claimed, err := keys.Generate(typ)
			if err != nil {
				t.Fatal(err)
			}
			actual, err := keys.Generate(typ)
			if err != nil {
				t.Fatal(err)
			}
			s, err := keys.NewSigner(opaqueSigner{key: actual, pub: claimed.Public()})
			if err != nil {
				t.Fatal(err)
			}
			sig, err := keys.Sign(s, []byte("release"))
			if !errors.Is(err, keys.ErrBadSignature) || sig != nil {
				t.Fatalf("Sign = %x, %v; want no signature and ErrBadSignature", sig, err)
			}
		})
	}
}

// TestExternalEd25519SignsPureMessage checks that an external Ed25519 signer
// is asked for pure Ed25519 (no pre-hash), as a file key signs.
func TestExternalEd25519SignsPureMessage(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fileSigner, err := keys.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := keys.NewSigner(opaqueSigner{key: priv, pub: priv.Public()})
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("release")
	a, err := keys.Sign(fileSigner, msg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := keys.Sign(ext, msg)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Fatal("an external ed25519 signer signs other bytes than the file key")
	}
}
