package repotool

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/safeupdate/safeupdate/internal/kms"
	"github.com/safeupdate/safeupdate/keys"
)

// LoadSigner resolves one --key value to a signer: the one place every
// command that signs does it.
//
// A KMS key reference (awskms://[ENDPOINT]/KEY, gcpkms://projects/...,
// azurekms://VAULT.vault.azure.net/KEY, hashivault://KEY, sigstore's forms)
// is opened in its KMS, with credentials from the SDK's usual environment:
// its public key is read now and must be ECDSA P-256 or Ed25519, and each
// signature is one request later, bounded by ctx, normalised to low-S and
// checked against that public key before anything is written. Anything
// else is a private key file (LoadPrivateKey); passphrase is called only
// for an encrypted one.
//
// A KMS key is then a signer like any other: the checks that a key belongs
// to the root's role (init, rotate, sign-root, promote) compare its public
// key before it signs, and file and KMS keys mix in one threshold.
func LoadSigner(ctx context.Context, key string, passphrase func() ([]byte, error)) (crypto.Signer, error) {
	if kms.IsRef(key) {
		s, err := kms.Open(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("repotool: %w", err)
		}
		return s, nil
	}
	if scheme, _, ok := strings.Cut(key, "://"); ok && !strings.ContainsAny(scheme, `/\.`) {
		return nil, &KeyError{Path: key, Err: fmt.Errorf("no KMS of scheme %s://: a KMS key is one of %s, a file key is a path",
			scheme, strings.Join(kms.Schemes(), ", "))}
	}
	return LoadPrivateKey(key, passphrase)
}

// KMSKeygenConfig configures KeygenKMS.
type KMSKeygenConfig struct {
	// Key is the KMS key reference of the new key; for AWS KMS an alias
	// (awskms://[ENDPOINT]/alias/NAME).
	Key string
	// Out is the path prefix: KeygenKMS writes Out+".pub".
	Out string
	// Type is the algorithm; "" means keys.ECDSAP256, which every
	// provider offers (Ed25519: HashiCorp Vault only).
	Type keys.Type
}

// KMSKeygenResult describes a key made in a KMS.
type KMSKeygenResult struct {
	ID         string // TUF key id, hex
	PublicKey  crypto.PublicKey
	PublicPath string // Out + ".pub", mode 0644
}

// KeygenKMS creates a new signing key in a KMS and writes its public key to
// cfg.Out+".pub" (PEM PKIX), for init, rotate or a client's pin. The
// private key never leaves the KMS.
//
// It never overwrites: if the file exists it fails with ErrExists before
// the key is created, and a key that exists in the KMS already is refused
// (use PublicKeyOf for it). If the file cannot be written after the key
// was made, the error says so and how to write it ('repotool pubkey').
func KeygenKMS(ctx context.Context, cfg KMSKeygenConfig) (*KMSKeygenResult, error) {
	if cfg.Out == "" {
		return nil, errors.New("repotool: keygen: no output path given")
	}
	if cfg.Type == "" {
		cfg.Type = keys.ECDSAP256
	}
	res := &KMSKeygenResult{PublicPath: cfg.Out + ".pub"}
	if _, err := os.Lstat(res.PublicPath); err == nil {
		return nil, errorf(ErrExists, "repotool: keygen: %s already exists; refusing to overwrite it", res.PublicPath)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("repotool: keygen: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Out), 0o700); err != nil {
		return nil, fmt.Errorf("repotool: keygen: %w", err)
	}
	pub, err := kms.Create(ctx, cfg.Key, cfg.Type)
	if err != nil {
		return nil, fmt.Errorf("repotool: keygen: %w", err)
	}
	res.PublicKey = pub
	if res.ID, err = keys.ID(pub); err != nil {
		return nil, fmt.Errorf("repotool: keygen: %s", trimPrefix(err))
	}
	if err := writePublicKey("keygen", res.PublicPath, pub); err != nil {
		return nil, fmt.Errorf("%w (the key %s was created in the KMS: write its public key with 'repotool pubkey --key %s --out FILE')", err, res.ID, cfg.Key)
	}
	return res, nil
}

// PublicKeyOf returns the public key of key, a KMS key reference or a
// private key file (see LoadSigner), and its TUF key id.
func PublicKeyOf(ctx context.Context, key string, passphrase func() ([]byte, error)) (crypto.PublicKey, string, error) {
	s, err := LoadSigner(ctx, key, passphrase)
	if err != nil {
		return nil, "", err
	}
	id, err := keys.ID(s.Public())
	if err != nil {
		return nil, "", fmt.Errorf("repotool: pubkey: %s", trimPrefix(err))
	}
	return s.Public(), id, nil
}

// WritePublicKey writes pub as PEM (PKIX) to a new file at path, mode 0644:
// created exclusively (ErrExists if it is there), synced, removed again on
// failure, so it is either complete or absent.
func WritePublicKey(path string, pub crypto.PublicKey) error {
	return writePublicKey("pubkey", path, pub)
}

func writePublicKey(op, path string, pub crypto.PublicKey) error {
	data, err := keys.MarshalPublic(pub)
	if err != nil {
		return fmt.Errorf("repotool: %s: %s", op, trimPrefix(err))
	}
	return writeNewFor(op, path, data, 0o644)
}
