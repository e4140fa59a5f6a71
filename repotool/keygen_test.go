package repotool

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/safeupdate/safeupdate/keys"
)

func TestKeygenUnencrypted(t *testing.T) {
	for _, typ := range []keys.Type{keys.Ed25519, keys.ECDSAP256} {
		t.Run(string(typ), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "sub", "k")
			res, err := Keygen(KeygenConfig{Out: out, Type: typ, Unencrypted: true})
			if err != nil {
				t.Fatal(err)
			}
			for path, mode := range map[string]os.FileMode{res.KeyPath: 0o600, res.PublicPath: 0o644} {
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != mode {
					t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), mode)
				}
			}
			priv, err := LoadPrivateKey(res.KeyPath, nil)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := LoadPublicKey(res.PublicPath)
			if err != nil {
				t.Fatal(err)
			}
			id1, _ := keys.ID(priv.Public())
			id2, _ := keys.ID(pub)
			if id1 != res.ID || id2 != res.ID {
				t.Errorf("ids %s %s, want %s", id1, id2, res.ID)
			}
			if got, _ := keys.TypeOf(pub); got != typ {
				t.Errorf("type %s, want %s", got, typ)
			}
		})
	}
}

func TestKeygenNeverOverwrites(t *testing.T) {
	for _, existing := range []string{".pub", ".key"} {
		t.Run(existing, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "k")
			os.WriteFile(out+existing, []byte("keep me"), 0o600)
			_, err := Keygen(KeygenConfig{Out: out, Unencrypted: true})
			if !errors.Is(err, ErrExists) {
				t.Fatalf("err = %v, want ErrExists", err)
			}
			if data, _ := os.ReadFile(out + existing); string(data) != "keep me" {
				t.Error("existing file overwritten")
			}
			other := map[string]string{".pub": ".key", ".key": ".pub"}[existing]
			if _, err := os.Stat(out + other); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s written although %s exists", other, existing)
			}
		})
	}
}

func TestKeygenRefusesToWriteUnencryptedByDefault(t *testing.T) {
	out := filepath.Join(t.TempDir(), "k")
	for _, pass := range []func() ([]byte, error){
		nil,
		func() ([]byte, error) { return nil, nil },
		func() ([]byte, error) { return nil, errors.New("no terminal") },
	} {
		if _, err := Keygen(KeygenConfig{Out: out, Passphrase: pass}); !errors.Is(err, ErrNoPassphrase) {
			t.Errorf("err = %v, want ErrNoPassphrase", err)
		}
		for _, ext := range []string{".key", ".pub"} {
			if _, err := os.Stat(out + ext); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s written without a passphrase", ext)
			}
		}
	}
}

func TestKeygenRejectsUnknownType(t *testing.T) {
	if _, err := Keygen(KeygenConfig{Out: filepath.Join(t.TempDir(), "k"), Type: "rsa", Unencrypted: true}); err == nil {
		t.Fatal("rsa accepted")
	}
}
