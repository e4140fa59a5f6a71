package keys

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/sigstore/sigstore/pkg/signature"
)

// externalSigner signs through a crypto.Signer whose private key is not in
// this process (a KMS, a hardware token), by the scheme of its public key:
// pure Ed25519 over the message, or ECDSA P-256 over its SHA-256. Such a
// signer may return either ECDSA form; keys.Sign normalises it and checks
// the result against the public key.
type externalSigner struct {
	s   crypto.Signer
	pub crypto.PublicKey
	t   Type
}

func (e externalSigner) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return e.pub, nil
}

func (e externalSigner) SignMessage(msg io.Reader, _ ...signature.SignOption) ([]byte, error) {
	data, err := io.ReadAll(msg)
	if err != nil {
		return nil, fmt.Errorf("keys: signing: %w", err)
	}
	var sig []byte
	switch e.t {
	case Ed25519:
		sig, err = e.s.Sign(rand.Reader, data, crypto.Hash(0))
	default:
		digest := sha256.Sum256(data)
		if sig, err = e.s.Sign(rand.Reader, digest[:], crypto.SHA256); err == nil {
			sig, err = lowS(sig)
		}
	}
	if err != nil {
		return nil, err // keys.Sign says "keys: signing"
	}
	return sig, nil
}
