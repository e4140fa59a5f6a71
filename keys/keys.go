// Package keys generates, encodes, decodes and identifies the signing keys
// of a safeupdate repository.
//
// Two algorithms are supported: Ed25519 (the default; pure Ed25519 over the
// message) and ECDSA on NIST P-256 (over the SHA-256 of the message, ASN.1
// DER signatures with s at most n/2, "low-S"). Public keys are PEM-encoded
// PKIX. Private keys are PKCS#8 PEM, normally encrypted at rest with age
// (scrypt passphrase, armored).
// Keys made by `openssl genpkey -algorithm ed25519` and
// `openssl ecparam -name prime256v1 -genkey` load as they are.
//
// A key is named by its TUF key id: the hex SHA-256 of the canonical JSON of
// the TUF key object, as go-tuf's metadata.Key.ID computes it, so the same id
// appears in release.json signatures and in TUF root metadata.
//
// Signing and verifying go through github.com/sigstore/sigstore/pkg/signature
// so that other signers (hardware, KMS) can be added without changing callers.
//
// # Threat model
//
// Parsing is bounded (limits.KeyFile) and accepts only the two algorithms
// above; RSA, other curves and malformed Ed25519 keys are refused rather than
// carried along. An unencrypted private key file is only as safe as the file
// system it lives on; age encryption protects a key at rest, not a key in use.
//
// # Compatibility
//
// Key ids are stable as long as TUF's key id definition is; the PEM and age
// formats are the public standards and readable by openssl and age.
package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/safeupdate/safeupdate/internal/limits"
)

// Type names a key algorithm.
type Type string

const (
	// Ed25519 is pure Ed25519 (RFC 8032). The default.
	Ed25519 Type = "ed25519"
	// ECDSAP256 is ECDSA on NIST P-256 over SHA-256, ASN.1 DER signatures.
	ECDSAP256 Type = "ecdsa-p256"
)

var (
	// ErrUnsupportedKey is returned for keys of an algorithm or size this
	// package does not accept.
	ErrUnsupportedKey = errors.New("keys: unsupported key type (want ed25519 or ecdsa-p256)")
	// ErrNotPEM is returned when a key file holds no PEM block of a known type.
	ErrNotPEM = errors.New("keys: no PEM-encoded key found")
	// ErrBadSignature is returned by Verify when a signature does not verify.
	ErrBadSignature = errors.New("keys: signature does not verify")
)

// Generate makes a new private key of type t from crypto/rand.
func Generate(t Type) (crypto.Signer, error) {
	switch t {
	case Ed25519, "":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("keys: unknown key type %q (want %s or %s)", t, Ed25519, ECDSAP256)
	}
}

// TypeOf tells the Type of a public key, or ErrUnsupportedKey.
func TypeOf(pub crypto.PublicKey) (Type, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", fmt.Errorf("%w: ed25519 key of %d bytes", ErrUnsupportedKey, len(k))
		}
		return Ed25519, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("%w: ecdsa on curve %s", ErrUnsupportedKey, k.Curve.Params().Name)
		}
		return ECDSAP256, nil
	default:
		return "", fmt.Errorf("%w: %T", ErrUnsupportedKey, pub)
	}
}

// MarshalPublic encodes a public key as PEM (PKIX, "PUBLIC KEY").
func MarshalPublic(pub crypto.PublicKey) ([]byte, error) {
	if _, err := TypeOf(pub); err != nil {
		return nil, err
	}
	return cryptoutils.MarshalPublicKeyToPEM(pub)
}

// ParsePublic decodes one PEM public key (PKIX). Only Ed25519 and ECDSA
// P-256 keys are accepted.
func ParsePublic(data []byte) (crypto.PublicKey, error) {
	if len(data) > limits.KeyFile {
		return nil, fmt.Errorf("keys: public key file larger than %d bytes", limits.KeyFile)
	}
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("%w: want a %q block", ErrNotPEM, "PUBLIC KEY")
		}
		if block.Type != "PUBLIC KEY" {
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keys: parsing public key: %w", err)
		}
		if _, err := TypeOf(pub); err != nil {
			return nil, err
		}
		return pub, nil
	}
}

// ID returns the TUF key id of pub: the hex SHA-256 of the canonical JSON of
// its TUF key object (go-tuf's metadata.Key.ID).
func ID(pub crypto.PublicKey) (string, error) {
	k, err := TUFKey(pub)
	if err != nil {
		return "", err
	}
	return k.ID()
}

// TUFKey returns the TUF metadata form of pub, as it appears in root.json.
func TUFKey(pub crypto.PublicKey) (*metadata.Key, error) {
	if _, err := TypeOf(pub); err != nil {
		return nil, err
	}
	k, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return k, nil
}

// Fingerprint returns a value equal for equal public keys whatever their
// encoding: the SHA-256 of the PKIX DER. It is what thresholds count.
func Fingerprint(pub crypto.PublicKey) ([32]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return [32]byte{}, fmt.Errorf("keys: %w", err)
	}
	return sha256.Sum256(der), nil
}

// NewSigner wraps a private key as a sigstore signature.Signer using the
// scheme of its type: pure Ed25519, or ECDSA P-256 over SHA-256. Its ECDSA
// signatures are low-S, the only form Verify accepts.
//
// priv is either a key in memory (ed25519.PrivateKey, *ecdsa.PrivateKey) or
// any other crypto.Signer, such as a key in a KMS, whose Public must then be
// the key it signs with: Sign checks every signature against it.
func NewSigner(priv crypto.Signer) (signature.Signer, error) {
	pub := priv.Public()
	t, err := TypeOf(pub)
	if err != nil {
		return nil, err
	}
	switch priv.(type) {
	case ed25519.PrivateKey, *ecdsa.PrivateKey:
	default:
		return externalSigner{s: priv, pub: pub, t: t}, nil
	}
	s, err := signature.LoadSigner(priv, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if t == ECDSAP256 {
		return lowSSigner{s}, nil
	}
	return s, nil
}

// lowSSigner is an ECDSA signer whose signatures are normalised to low-S:
// crypto/ecdsa returns either of (r, s) and (r, n-s).
type lowSSigner struct{ signature.Signer }

func (l lowSSigner) SignMessage(msg io.Reader, opts ...signature.SignOption) ([]byte, error) {
	sig, err := l.Signer.SignMessage(msg, opts...)
	if err != nil {
		return nil, err
	}
	return lowS(sig)
}

// NewVerifier wraps a public key as a sigstore signature.Verifier using the
// scheme of its type.
func NewVerifier(pub crypto.PublicKey) (signature.Verifier, error) {
	if _, err := TypeOf(pub); err != nil {
		return nil, err
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return v, nil
}

// Sign signs msg with s. An ECDSA signature is returned in its low-S form,
// whatever signer made it (NewSigner's, a hardware or KMS signer), and every
// signature is checked against s's public key before it is returned: a
// signer that signs with another key than it claims, or returns a damaged
// signature, fails here instead of in a client.
func Sign(s signature.Signer, msg []byte) ([]byte, error) {
	pub, err := s.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("keys: signing: %w", err)
	}
	t, err := TypeOf(pub)
	if err != nil {
		return nil, err
	}
	sig, err := s.SignMessage(bytes.NewReader(msg))
	if err != nil {
		return nil, fmt.Errorf("keys: signing: %w", err)
	}
	if t == ECDSAP256 {
		if sig, err = lowS(sig); err != nil {
			return nil, err
		}
	}
	if err := Verify(pub, msg, sig); err != nil {
		return nil, fmt.Errorf("keys: signing: the signer's signature does not verify against its public key: %w", err)
	}
	return sig, nil
}

// Verify checks sig over msg with pub. ECDSA signatures must be ASN.1 DER
// with s at most n/2 (low-S), so that a signature has one encoding only:
// the IEEE P1363 form, which sigstore also accepts, is refused, and so is
// (r, n-s), which crypto/ecdsa accepts as readily as (r, s). Ed25519
// signatures have one encoding already (crypto/ed25519 refuses S >= L).
func Verify(pub crypto.PublicKey, msg, sig []byte) error {
	t, err := TypeOf(pub)
	if err != nil {
		return err
	}
	if t == ECDSAP256 {
		_, s, ok := parseDERSignature(sig)
		if !ok {
			return fmt.Errorf("%w: ecdsa signature is not ASN.1 DER", ErrBadSignature)
		}
		if s.Cmp(p256HalfOrder) > 0 {
			return fmt.Errorf("%w: ecdsa signature has s above n/2; only the low-S form is accepted, so that a signature has one encoding", ErrBadSignature)
		}
	}
	v, err := NewVerifier(pub)
	if err != nil {
		return err
	}
	if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return nil
}

// p256HalfOrder is n/2 (rounded down) for P-256. Of the two values s and
// n-s that make a valid signature with the same r, exactly one is at most
// this: that is the low-S form.
var p256HalfOrder = new(big.Int).Rsh(elliptic.P256().Params().N, 1)

// parseDERSignature decodes an ASN.1 DER ECDSA signature with positive r
// and s and nothing after it.
func parseDERSignature(sig []byte) (r, s *big.Int, ok bool) {
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(sig, &rs)
	if err != nil || len(rest) != 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 {
		return nil, nil, false
	}
	return rs.R, rs.S, true
}

// lowS returns the P-256 signature sig with s replaced by n-s when s is
// above n/2. It refuses a signature that is not DER rather than pass it on,
// since Verify would refuse it.
func lowS(sig []byte) ([]byte, error) {
	r, s, ok := parseDERSignature(sig)
	if !ok {
		return nil, errors.New("keys: signing: the signer returned an ecdsa signature that is not ASN.1 DER")
	}
	if s.Cmp(p256HalfOrder) <= 0 {
		return sig, nil
	}
	s = new(big.Int).Sub(elliptic.P256().Params().N, s)
	out, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		return nil, fmt.Errorf("keys: signing: %w", err)
	}
	return out, nil
}

// readAll reads at most limit bytes of r and fails if there is more.
func readAll(r io.Reader, limit int64, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("keys: %s larger than %d bytes", what, limit)
	}
	return data, nil
}
