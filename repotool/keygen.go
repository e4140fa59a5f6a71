package repotool

import (
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/localfile"
	"github.com/safeupdate/safeupdate/keys"
)

// KeygenConfig configures Keygen.
type KeygenConfig struct {
	// Out is the path prefix: Keygen writes Out+".pub" and Out+".key".
	Out string
	// Type is the algorithm; "" means keys.Ed25519.
	Type keys.Type
	// Passphrase returns the passphrase the private key is encrypted to.
	// It is called once, after both paths were found free. Required
	// unless Unencrypted.
	Passphrase func() ([]byte, error)
	// Unencrypted writes the private key as plain PKCS#8 PEM. Anyone who
	// can read the file can then sign releases.
	Unencrypted bool
}

// KeygenResult describes a new key pair.
type KeygenResult struct {
	ID         string // TUF key id, hex
	PublicKey  crypto.PublicKey
	PublicPath string // Out + ".pub", mode 0644
	KeyPath    string // Out + ".key", mode 0600
}

// Keygen makes a new signing key pair and writes it to cfg.Out+".pub" (PEM
// PKIX) and cfg.Out+".key" (PKCS#8 PEM, age-encrypted unless
// cfg.Unencrypted). A missing parent directory is created, mode 0700.
//
// It never overwrites: if either file exists it fails with ErrExists before
// writing anything, and each file is created exclusively, so a concurrent
// writer is not clobbered either. It never writes an unencrypted private key
// unless cfg.Unencrypted is set: without a passphrase it fails with
// ErrNoPassphrase. On failure, any file it created is removed.
func Keygen(cfg KeygenConfig) (*KeygenResult, error) {
	if cfg.Out == "" {
		return nil, errors.New("repotool: keygen: no output path given")
	}
	res := &KeygenResult{PublicPath: cfg.Out + ".pub", KeyPath: cfg.Out + ".key"}
	for _, p := range []string{res.PublicPath, res.KeyPath} {
		if _, err := os.Lstat(p); err == nil {
			return nil, errorf(ErrExists, "repotool: keygen: %s already exists; refusing to overwrite it", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("repotool: keygen: %w", err)
		}
	}
	priv, err := keys.Generate(cfg.Type)
	if err != nil {
		return nil, fmt.Errorf("repotool: keygen: %s", trimPrefix(err))
	}
	var keyPEM []byte
	if cfg.Unencrypted {
		keyPEM, err = keys.MarshalPrivate(priv)
	} else {
		var pass []byte
		if cfg.Passphrase != nil {
			pass, err = cfg.Passphrase()
			if err != nil {
				return nil, errorf(ErrNoPassphrase, "repotool: keygen: %w", err)
			}
		}
		if len(pass) == 0 {
			return nil, errorf(ErrNoPassphrase, "repotool: keygen: no passphrase to encrypt the private key with")
		}
		keyPEM, err = keys.EncryptPrivate(priv, pass)
	}
	if err != nil {
		return nil, fmt.Errorf("repotool: keygen: %s", trimPrefix(err))
	}
	pubPEM, err := keys.MarshalPublic(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("repotool: keygen: %s", trimPrefix(err))
	}
	res.PublicKey = priv.Public()
	if res.ID, err = keys.ID(res.PublicKey); err != nil {
		return nil, fmt.Errorf("repotool: keygen: %s", trimPrefix(err))
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Out), 0o700); err != nil {
		return nil, fmt.Errorf("repotool: keygen: %w", err)
	}
	if err := writeNew(res.KeyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(res.PublicPath, pubPEM, 0o644); err != nil {
		os.Remove(res.KeyPath)
		return nil, err
	}
	return res, nil
}

// writeNew creates path exclusively with exactly mode perm, writes data and
// syncs it; on failure the file is removed.
func writeNew(path string, data []byte, perm fs.FileMode) error {
	return writeNewFor("keygen", path, data, perm)
}

// writeNewFor is writeNew for the command op, named in its errors.
func writeNewFor(op, path string, data []byte, perm fs.FileMode) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return errorf(ErrExists, "repotool: %s: %s already exists; refusing to overwrite it", op, path)
		}
		return fmt.Errorf("repotool: %s: %w", op, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("repotool: %s: %w", op, cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	// The umask may have narrowed perm; the modes are part of the contract.
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("repotool: %s: %w", op, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("repotool: %s: %w", op, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("repotool: %s: %w", op, err)
	}
	return nil
}

// LoadPrivateKey reads a private key file in any format keys.ParsePrivate
// accepts: age-encrypted PKCS#8 (as Keygen writes it), plain PKCS#8 PEM, and
// openssl's ed25519 and P-256 keys. passphrase is called only for an
// encrypted file. Errors are *KeyError wrapping keys' sentinels, such as
// keys.ErrWrongPassphrase.
func LoadPrivateKey(path string, passphrase func() ([]byte, error)) (crypto.Signer, error) {
	data, err := readFileLimit(path, limits.KeyFile)
	if err != nil {
		return nil, &KeyError{Path: path, Err: err}
	}
	priv, err := keys.ParsePrivate(data, passphrase)
	if err != nil {
		return nil, &KeyError{Path: path, Err: err}
	}
	return priv, nil
}

// LoadPublicKey reads a PEM (PKIX) public key file, ed25519 or P-256.
func LoadPublicKey(path string) (crypto.PublicKey, error) {
	data, err := readFileLimit(path, limits.KeyFile)
	if err != nil {
		return nil, &KeyError{Path: path, Err: err}
	}
	pub, err := keys.ParsePublic(data)
	if err != nil {
		return nil, &KeyError{Path: path, Err: err}
	}
	return pub, nil
}

// readFileLimit reads a whole regular file (localfile.Read), failing if it
// holds more than limit bytes; the error does not repeat the path.
func readFileLimit(path string, limit int64) ([]byte, error) {
	data, err := localfile.Read(path, limit)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return nil, pe.Err
	}
	return data, err
}
