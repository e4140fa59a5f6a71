package kms

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/safeupdate/safeupdate/internal/kmstest"
	"github.com/safeupdate/safeupdate/keys"
)

var halfOrder = new(big.Int).Rsh(elliptic.P256().Params().N, 1)

func sOf(t *testing.T, sig []byte) *big.Int {
	t.Helper()
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) != 0 {
		t.Fatalf("not a DER signature: %x (%v)", sig, err)
	}
	return rs.S
}

// TestKMSSignaturesAreLowSAndVerify creates a key in the emulator, signs
// until the service has returned both a high-S and a low-S signature, and
// checks that every signature keys.Sign hands out is low-S and verifies
// with the public key, as a file key's would.
func TestKMSSignaturesAreLowSAndVerify(t *testing.T) {
	f := kmstest.Start(t)
	ctx := context.Background()
	ref := f.Ref(kmstest.Alias(t))
	pub, err := Create(ctx, ref, keys.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.(*ecdsa.PublicKey).Equal(s.Public()) {
		t.Fatal("Open's public key is not the one Create returned")
	}
	signer, err := keys.NewSigner(s)
	if err != nil {
		t.Fatal(err)
	}
	var high, low int
	for i := 0; i < 64 && (high == 0 || low == 0); i++ {
		msg := fmt.Appendf(nil, "release %d", i)
		sig, err := keys.Sign(signer, msg)
		if err != nil {
			t.Fatal(err)
		}
		if sOf(t, sig).Cmp(halfOrder) > 0 {
			t.Fatalf("signature %d is high-S after normalisation", i)
		}
		if err := keys.Verify(pub, msg, sig); err != nil {
			t.Fatalf("signature %d: %v", i, err)
		}
		raw := f.Signatures()
		if sOf(t, raw[len(raw)-1]).Cmp(halfOrder) > 0 {
			high++
		} else {
			low++
		}
	}
	// Each signature is high-S with probability 1/2: missing one kind in
	// 64 happens once in 2^63 runs.
	if high == 0 || low == 0 {
		t.Fatalf("the KMS returned %d high-S and %d low-S signatures; both kinds must be met", high, low)
	}
}

// TestCreateRefusesExistingKey checks that keygen cannot silently adopt a
// key that exists already (sigstore's CreateKey returns it as if new).
func TestCreateRefusesExistingKey(t *testing.T) {
	f := kmstest.Start(t)
	ctx := context.Background()
	ref := f.Ref(kmstest.Alias(t))
	if _, err := Create(ctx, ref, keys.ECDSAP256); err != nil {
		t.Fatal(err)
	}
	_, err := Create(ctx, ref, keys.ECDSAP256)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	if _, err := Create(ctx, f.Ref("1234abcd-12ab-34cd-56ef-1234567890ab"), keys.ECDSAP256); !errors.Is(err, ErrBadRef) {
		t.Fatalf("Create by key id: %v, want ErrBadRef (a new key needs an alias)", err)
	}
	if _, err := Create(ctx, f.Ref(kmstest.Alias(t)), keys.Ed25519); !errors.Is(err, ErrKeyType) {
		t.Fatalf("Create ed25519: %v, want ErrKeyType", err)
	}
}

// TestRejectsUnusableKMSKeys opens keys that cannot sign, each against the
// emulator, and checks the error says what is wrong, naming the provider
// and the key.
func TestRejectsUnusableKMSKeys(t *testing.T) {
	f := kmstest.Start(t)
	ctx := context.Background()
	cases := []struct {
		name string
		key  func() string // returns the key part of the reference
		want error
	}{
		{"not found", func() string { return kmstest.Alias(t) }, ErrNotFound},
		{"disabled", func() string {
			id := f.CreateKey("ECC_NIST_P256", "SIGN_VERIFY")
			f.Call("DisableKey", map[string]any{"KeyId": id})
			return id
		}, ErrDisabled},
		{"scheduled for deletion", func() string {
			id := f.CreateKey("ECC_NIST_P256", "SIGN_VERIFY")
			f.Call("ScheduleKeyDeletion", map[string]any{"KeyId": id, "PendingWindowInDays": 7})
			return id
		}, ErrKeyState},
		{"encrypt-only symmetric key", func() string { return f.CreateKey("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT") }, ErrKeyUsage},
		{"encrypt-only RSA key", func() string { return f.CreateKey("RSA_2048", "ENCRYPT_DECRYPT") }, ErrKeyType},
		{"P-384 signing key", func() string { return f.CreateKey("ECC_NIST_P384", "SIGN_VERIFY") }, ErrKeyType},
		{"RSA signing key", func() string { return f.CreateKey("RSA_2048", "SIGN_VERIFY") }, ErrKeyType},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ref := f.Ref(c.key())
			s, err := Open(ctx, ref)
			if !errors.Is(err, c.want) || s != nil {
				t.Fatalf("Open = %v, %v; want nil, %v", s, err, c.want)
			}
			t.Log(err)
			checkNames(t, err, "AWS KMS", ref)
		})
	}
}

// TestRejectsKMSKeyWithoutPermission checks the errors when the
// credentials may not read the public key, or may read it and not sign:
// AWS KMS's AccessDeniedException, answered by the front since local-kms
// checks no permissions.
func TestRejectsKMSKeyWithoutPermission(t *testing.T) {
	ctx := context.Background()
	f := kmstest.Start(t)
	ref := f.Ref(kmstest.Alias(t))
	signer := newSigner(t, ref)
	f.Deny("Sign")
	sig, err := keys.Sign(signer, []byte("release"))
	if !errors.Is(err, ErrPermission) || sig != nil {
		t.Fatalf("Sign without kms:Sign = %x, %v; want ErrPermission", sig, err)
	}
	checkNames(t, err, "AWS KMS", ref)
	f.Deny("GetPublicKey")
	_, err = Open(ctx, ref)
	if !errors.Is(err, ErrPermission) {
		t.Fatalf("Open without kms:GetPublicKey: %v, want ErrPermission", err)
	}
	checkNames(t, err, "AWS KMS", ref)
}

// TestSurvivesKMSUnreachable checks the errors when the KMS cannot be reached:
// before Open, and after it (the service stopped mid-run), when signing.
func TestSurvivesKMSUnreachable(t *testing.T) {
	ctx := context.Background()
	t.Run("before open", func(t *testing.T) {
		f := kmstest.Start(t)
		ref := f.Ref(kmstest.Alias(t))
		f.Stop()
		_, err := Open(ctx, ref)
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("Open: %v, want ErrUnreachable", err)
		}
		checkNames(t, err, "AWS KMS", ref)
	})
	t.Run("stopped mid-run", func(t *testing.T) {
		f := kmstest.Start(t)
		ref := f.Ref(kmstest.Alias(t))
		signer := newSigner(t, ref)
		if _, err := keys.Sign(signer, []byte("first")); err != nil {
			t.Fatal(err)
		}
		f.Stop()
		sig, err := keys.Sign(signer, []byte("second"))
		if !errors.Is(err, ErrUnreachable) || sig != nil {
			t.Fatalf("Sign after the KMS stopped = %x, %v; want ErrUnreachable", sig, err)
		}
		t.Log(err)
		checkNames(t, err, "AWS KMS", ref)
	})
}

// TestRejectsUnverifiedTLSToKMS checks that the setting with which
// sigstore's AWS provider skips TLS verification is refused: a machine on
// the path could otherwise hand out its own public key, and sign.
func TestRejectsUnverifiedTLSToKMS(t *testing.T) {
	f := kmstest.Start(t)
	t.Setenv("AWS_TLS_INSECURE_SKIP_VERIFY", "1")
	ref := f.Ref(kmstest.Alias(t))
	before := f.Ops()
	_, err := Open(context.Background(), ref)
	if !errors.Is(err, ErrInsecure) {
		t.Fatalf("Open: %v, want ErrInsecure", err)
	}
	checkNames(t, err, "AWS KMS", ref)
	if _, err := Create(context.Background(), ref, keys.ECDSAP256); !errors.Is(err, ErrInsecure) {
		t.Fatalf("Create: %v, want ErrInsecure", err)
	}
	for op, n := range f.Ops() {
		if n != before[op] {
			t.Errorf("%d %s requests were sent", n-before[op], op)
		}
	}
}

// checkNames checks that err names the provider and the key.
func checkNames(t *testing.T, err error, provider, ref string) {
	t.Helper()
	if msg := err.Error(); !strings.Contains(msg, provider) || !strings.Contains(msg, ref) {
		t.Errorf("the error does not name %s and %s: %v", provider, ref, err)
	}
	var ke *Error
	if !errors.As(err, &ke) || ke.Provider != provider || ke.Ref != ref {
		t.Errorf("err is not an *Error of %s %s: %#v", provider, ref, err)
	}
}

// newSigner makes a P-256 key at ref in the KMS and returns it as a signer.
func newSigner(t *testing.T, ref string) signature.Signer {
	t.Helper()
	ctx := context.Background()
	if _, err := Create(ctx, ref, keys.ECDSAP256); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := keys.NewSigner(s)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}
