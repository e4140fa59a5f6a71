package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/safeupdate/safeupdate/internal/limits"
)

var (
	// ErrWrongPassphrase is returned when an age-encrypted key does not
	// decrypt with the given passphrase.
	ErrWrongPassphrase = errors.New("keys: wrong passphrase")
	// ErrNoPassphrase is returned when a key is encrypted and no passphrase
	// could be obtained.
	ErrNoPassphrase = errors.New("keys: key is encrypted and no passphrase was given")
	// ErrEncryptedPEM is returned for legacy OpenSSL-encrypted PEM
	// ("Proc-Type: 4,ENCRYPTED" or "ENCRYPTED PRIVATE KEY"), which is not
	// supported: re-encrypt the key with age or export it unencrypted.
	ErrEncryptedPEM = errors.New("keys: OpenSSL-encrypted PEM keys are not supported; decrypt with openssl and re-encrypt with age")
)

// scryptWorkFactor is age's default (2^18): about a second on a laptop.
// Tests lower it through SetScryptWorkFactorForTest.
var scryptWorkFactor = 18

// MarshalPrivate encodes priv as unencrypted PKCS#8 PEM ("PRIVATE KEY").
func MarshalPrivate(priv crypto.Signer) ([]byte, error) {
	if _, err := TypeOf(priv.Public()); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// EncryptPrivate encodes priv as PKCS#8 PEM encrypted with age to
// passphrase (scrypt), ASCII-armored. An empty passphrase is refused.
func EncryptPrivate(priv crypto.Signer, passphrase []byte) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("keys: empty passphrase")
	}
	plain, err := MarshalPrivate(priv)
	if err != nil {
		return nil, err
	}
	r, err := age.NewScryptRecipient(string(passphrase))
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	r.SetWorkFactor(scryptWorkFactor)
	var out bytes.Buffer
	aw := armor.NewWriter(&out)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if err := aw.Close(); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return out.Bytes(), nil
}

// IsEncrypted reports whether data is an age-armored file.
func IsEncrypted(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(armor.Header))
}

// ParsePrivate decodes a private key file: age-encrypted PKCS#8 (as written
// by EncryptPrivate), unencrypted PKCS#8 PEM, or SEC 1 "EC PRIVATE KEY" PEM
// as openssl writes it (an "EC PARAMETERS" block before it is skipped).
// passphrase is called only when the file is encrypted; it may be nil, in
// which case an encrypted file fails with ErrNoPassphrase.
func ParsePrivate(data []byte, passphrase func() ([]byte, error)) (crypto.Signer, error) {
	if len(data) > limits.KeyFile {
		return nil, fmt.Errorf("keys: private key file larger than %d bytes", limits.KeyFile)
	}
	if IsEncrypted(data) {
		if passphrase == nil {
			return nil, ErrNoPassphrase
		}
		pass, err := passphrase()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoPassphrase, err)
		}
		if len(pass) == 0 {
			return nil, ErrNoPassphrase
		}
		data, err = decrypt(data, pass)
		if err != nil {
			return nil, err
		}
	}
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("%w: want a %q block", ErrNotPEM, "PRIVATE KEY")
		}
		if _, ok := block.Headers["Proc-Type"]; ok {
			return nil, ErrEncryptedPEM
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, ErrEncryptedPEM
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("keys: parsing private key: %w", err)
		}
		return checkPrivate(key)
	}
}

func checkPrivate(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("%w: ed25519 private key of %d bytes", ErrUnsupportedKey, len(k))
		}
		return k, nil
	case *ecdsa.PrivateKey:
		if _, err := TypeOf(&k.PublicKey); err != nil {
			return nil, err
		}
		return k, nil
	default:
		return nil, fmt.Errorf("%w: %T", ErrUnsupportedKey, key)
	}
}

func decrypt(data, pass []byte) ([]byte, error) {
	id, err := age.NewScryptIdentity(string(pass))
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	r, err := age.Decrypt(armor.NewReader(bytes.NewReader(data)), id)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, ErrWrongPassphrase
		}
		return nil, fmt.Errorf("keys: decrypting key: %w", err)
	}
	plain, err := readAll(r, limits.KeyFile, "decrypted key")
	if err != nil {
		return nil, fmt.Errorf("keys: decrypting key: %w", err)
	}
	return plain, nil
}
