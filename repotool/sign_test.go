package repotool

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/trust"
)

// signCfg signs the release of releaseRepo, anchored by its binary.
func signCfg(repo string, ks ...crypto.Signer) SignConfig {
	return SignConfig{Repo: repo, Version: "1.0.0", OS: "linux", Arch: "amd64", Keys: ks, Binary: binaryOf(repo)}
}

// binaryOf is the binary releaseRepo made the release of repo from.
func binaryOf(repo string) string { return filepath.Join(filepath.Dir(repo), "app") }

func readRelease(t *testing.T, repo string) (*release.Release, []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, "1.0.0/linux/amd64/release.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := release.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return r, data
}

func TestSignBySeveralKeys(t *testing.T) {
	alice, bob, carol := newSigner(t, keys.Ed25519), newSigner(t, keys.ECDSAP256), newSigner(t, keys.Ed25519)
	repo := releaseRepo(t, "1.0.0", alice)
	before, _ := readRelease(t, repo)
	if _, err := Sign(context.Background(), signCfg(repo, bob)); err != nil {
		t.Fatal(err)
	}
	res, err := Sign(context.Background(), signCfg(repo, carol))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Added) != 1 {
		t.Errorf("Added = %v, want carol's id", res.Added)
	}
	r, _ := readRelease(t, repo)
	if len(r.Signatures) != 3 {
		t.Fatalf("%d signatures, want 3", len(r.Signatures))
	}
	if r.Signatures[0] != before.Signatures[0] {
		t.Error("the first signature changed")
	}
	b1, _ := before.SigningBytes()
	b2, _ := r.SigningBytes()
	if !bytes.Equal(b1, b2) {
		t.Error("signing added more than a signature")
	}
	tk, err := trust.NewKeys(pubs(alice, bob, carol), 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Verify(tk); err != nil {
		t.Errorf("threshold 3 of 3: %v", err)
	}
}

func TestSignTwiceIsNoop(t *testing.T) {
	alice := newSigner(t, keys.Ed25519)
	repo := releaseRepo(t, "1.0.0", alice)
	path := filepath.Join(repo, "1.0.0/linux/amd64/release.json")
	before, _ := os.ReadFile(path)
	fi1, _ := os.Stat(path)
	res, err := Sign(context.Background(), signCfg(repo, alice))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := keys.ID(alice.Public())
	if len(res.Added) != 0 || len(res.Already) != 1 || res.Already[0] != id {
		t.Errorf("Added %v, Already %v; want Already [%s]", res.Added, res.Already, id)
	}
	after, _ := os.ReadFile(path)
	fi2, _ := os.Stat(path)
	if !bytes.Equal(before, after) || !os.SameFile(fi1, fi2) {
		t.Error("release.json was rewritten")
	}
}

func TestRejectsSigningTamperedPayload(t *testing.T) {
	alice := newSigner(t, keys.Ed25519)
	tests := []struct {
		name   string
		tamper func(payload string)
	}{
		{"flipped byte", func(p string) {
			data, _ := os.ReadFile(p)
			data[len(data)/2] ^= 1
			os.WriteFile(p, data, 0o644)
		}},
		{"truncated", func(p string) {
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)-1], 0o644)
		}},
		{"extended", func(p string) {
			data, _ := os.ReadFile(p)
			os.WriteFile(p, append(data, 0), 0o644)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := releaseRepo(t, "1.0.0")
			tt.tamper(filepath.Join(repo, "1.0.0/linux/amd64/app.bz2"))
			_, before := readRelease(t, repo)
			_, err := Sign(context.Background(), signCfg(repo, alice))
			if !errors.Is(err, ErrPayloadMismatch) {
				t.Fatalf("err = %v, want ErrPayloadMismatch", err)
			}
			if _, after := readRelease(t, repo); !bytes.Equal(before, after) {
				t.Error("release.json changed")
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		repo := releaseRepo(t, "1.0.0")
		os.Remove(filepath.Join(repo, "1.0.0/linux/amd64/app.bz2"))
		if _, err := Sign(context.Background(), signCfg(repo, alice)); !errors.Is(err, ErrPayloadMismatch) {
			t.Fatalf("err = %v, want ErrPayloadMismatch", err)
		}
	})
}

func TestRejectsSigningReleaseUnderWrongPath(t *testing.T) {
	alice := newSigner(t, keys.Ed25519)
	repo := releaseRepo(t, "1.0.0")
	if err := os.Rename(filepath.Join(repo, "1.0.0"), filepath.Join(repo, "2.0.0")); err != nil {
		t.Fatal(err)
	}
	cfg := signCfg(repo, alice)
	cfg.Version = "2.0.0"
	if _, err := Sign(context.Background(), cfg); err == nil {
		t.Fatal("signed a release found under another version's path")
	}
}

func TestSignMissingRelease(t *testing.T) {
	repo := releaseRepo(t, "1.0.0")
	cfg := signCfg(repo, newSigner(t, keys.Ed25519))
	cfg.Arch = "arm64"
	if _, err := Sign(context.Background(), cfg); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}
