package repotool

import (
	"bytes"
	"crypto"
	"debug/elf"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/safeupdate/safeupdate/internal/reader"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/trust"
)

const (
	delta11     = "1.1.0/linux/amd64"
	deltaPatch  = delta11 + "/app-from-1.0.0.bsdiff"
	deltaBinLen = 20000
)

// deltaRepo makes a directory repository with 1.0.0 of app and 1.1.0, the
// same binary changed in two places, with a patch from 1.0.0, both signed
// by k. It returns the repository and 1.1.0's binary file.
func deltaRepo(t *testing.T, k crypto.Signer) (string, string) {
	t.Helper()
	repo := releaseRepo(t, "1.0.0", k)
	bin := filepath.Join(t.TempDir(), "app")
	writeELF(t, bin, elf.EM_X86_64, deltaBinLen)
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	copy(data[5000:], "changed in 1.1.0")
	copy(data[15000:], "changed in 1.1.0")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := Add(t.Context(), AddConfig{Repo: repo, Binary: bin, Version: "1.1.0", Keys: []crypto.Signer{k}, DeltaFrom: []string{"1.0.0"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Release.Patches); n != 1 {
		t.Fatalf("%d patches", n)
	}
	return repo, bin
}

func TestAddWritesPatchBesideThePayload(t *testing.T) {
	k := newSigner(t, keys.Ed25519)
	repo, _ := deltaRepo(t, k)
	for _, name := range []string{delta11 + "/app.bz2", deltaPatch, delta11 + "/release.json"} {
		if _, err := os.Stat(filepath.Join(repo, name)); err != nil {
			t.Error(err)
		}
	}
	results, err := Verify(t.Context(), VerifyConfig{Repo: repo, Keys: pubs(k)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if !r.OK {
			t.Errorf("%s: %s", r.Path, r.Error)
		}
	}
}

func TestAddRejectsUnverifiedBase(t *testing.T) {
	k, mallory := newSigner(t, keys.Ed25519), newSigner(t, keys.Ed25519)
	tests := map[string]func(t *testing.T, repo string){
		// Whoever can write to the storage replaced the base release with
		// their own, signed by their key: the patch would be from their
		// binary.
		"base signed by another key": func(t *testing.T, repo string) {
			bin := filepath.Join(t.TempDir(), "app")
			writeELF(t, bin, elf.EM_X86_64, 3000)
			if _, err := Add(t.Context(), AddConfig{Repo: repo, Binary: bin, Version: "1.0.0", Keys: []crypto.Signer{mallory}, Force: true}); err != nil {
				t.Fatal(err)
			}
		},
		"base payload swapped": func(t *testing.T, repo string) {
			p := filepath.Join(repo, "1.0.0/linux/amd64/app.bz2")
			data, _ := os.ReadFile(p)
			data[len(data)/2] ^= 1
			os.WriteFile(p, data, 0o644)
		},
		"no base release": func(t *testing.T, repo string) {
			os.RemoveAll(filepath.Join(repo, "1.0.0"))
		},
	}
	for name, poison := range tests {
		t.Run(name, func(t *testing.T) {
			repo := releaseRepo(t, "1.0.0", k)
			poison(t, repo)
			bin := filepath.Join(t.TempDir(), "app")
			writeELF(t, bin, elf.EM_X86_64, deltaBinLen)
			_, err := Add(t.Context(), AddConfig{Repo: repo, Binary: bin, Version: "1.1.0", Keys: []crypto.Signer{k}, DeltaFrom: []string{"1.0.0"}})
			if err == nil {
				t.Fatal("Add made a patch from an unverified base")
			}
			t.Log(err)
			if _, err := os.Stat(filepath.Join(repo, "1.1.0")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Add wrote 1.1.0 anyway: %v", err)
			}
		})
	}
	t.Run("no trust", func(t *testing.T) {
		repo := releaseRepo(t, "1.0.0", k)
		bin := filepath.Join(t.TempDir(), "app")
		writeELF(t, bin, elf.EM_X86_64, deltaBinLen)
		_, err := Add(t.Context(), AddConfig{Repo: repo, Binary: bin, Version: "1.1.0", DeltaFrom: []string{"1.0.0"}})
		if !errors.Is(err, ErrUnanchored) {
			t.Errorf("got %v, want ErrUnanchored", err)
		}
	})
}

func TestDeltaAddsPatchAndResigns(t *testing.T) {
	k := newSigner(t, keys.Ed25519)
	repo := releaseRepo(t, "1.0.0", k)
	bin := filepath.Join(t.TempDir(), "app")
	writeELF(t, bin, elf.EM_X86_64, deltaBinLen+7)
	if _, err := Add(t.Context(), AddConfig{Repo: repo, Binary: bin, Version: "1.1.0", Keys: []crypto.Signer{k}}); err != nil {
		t.Fatal(err)
	}
	res, err := Delta(t.Context(), DeltaConfig{Repo: repo, Version: "1.1.0", OS: "linux", Arch: "amd64", From: "1.0.0", Keys: []crypto.Signer{k}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Release.Patches) != 1 || res.Patch.File != "app-from-1.0.0.bsdiff" || len(res.Signed) != 1 || len(res.Dropped) != 0 {
		t.Fatalf("result %+v", res)
	}
	results, err := Verify(t.Context(), VerifyConfig{Repo: repo, Keys: pubs(k), Version: "1.1.0"})
	if err != nil || len(results) != 1 || !results[0].OK {
		t.Fatalf("verify: %+v, %v", results, err)
	}
	// A release not signed by the publisher's key is not re-signed.
	other := newSigner(t, keys.Ed25519)
	_, err = Delta(t.Context(), DeltaConfig{Repo: repo, Version: "1.1.0", OS: "linux", Arch: "amd64", From: "1.0.0", Keys: []crypto.Signer{other}})
	if !errors.Is(err, ErrUnanchored) {
		t.Errorf("re-signing a release of another key: got %v, want ErrUnanchored", err)
	}
}

func TestMirrorCopiesPatches(t *testing.T) {
	k := newSigner(t, keys.Ed25519)
	src, _ := deltaRepo(t, k)
	for _, kind := range []string{"dir", "s3"} {
		t.Run(kind, func(t *testing.T) {
			dst := newRepoSpec(t, kind)
			res, err := Mirror(t.Context(), MirrorConfig{From: src, To: dst, Keys: pubs(k)})
			if err != nil {
				t.Fatal(err)
			}
			if !present(t, dst, deltaPatch) {
				t.Fatalf("the patch was not copied: %+v", res)
			}
			results, err := Verify(t.Context(), VerifyConfig{Repo: dst, Keys: pubs(k)})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range results {
				if !r.OK {
					t.Errorf("%s in the mirror: %s", r.Path, r.Error)
				}
			}
		})
	}
}

func TestRejectsTamperedPatchInMirror(t *testing.T) {
	k := newSigner(t, keys.Ed25519)
	for name, poison := range map[string]func([]byte) []byte{
		"flipped":   func(b []byte) []byte { b[len(b)/2] ^= 1; return b },
		"extended":  func(b []byte) []byte { return append(b, 0) },
		"truncated": func(b []byte) []byte { return b[:len(b)-1] },
	} {
		t.Run(name, func(t *testing.T) {
			src, _ := deltaRepo(t, k)
			p := filepath.Join(src, deltaPatch)
			data, _ := os.ReadFile(p)
			os.WriteFile(p, poison(data), 0o644)
			dst := newRepoSpec(t, "dir")
			_, err := Mirror(t.Context(), MirrorConfig{From: src, To: dst, Keys: pubs(k)})
			if !errors.Is(err, ErrUnverified) {
				t.Fatalf("got %v, want ErrUnverified", err)
			}
			for _, name := range []string{deltaPatch, delta11 + "/release.json"} {
				if present(t, dst, name) {
					t.Errorf("%s was written to the mirror", name)
				}
			}
		})
	}
}

func TestServeServesPatches(t *testing.T) {
	k := newSigner(t, keys.Ed25519)
	repo, _ := deltaRepo(t, k)
	h, err := Handler(repo, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	// Read through the client's reader, which checks it against the
	// signed release.
	src, err := reader.HTTP(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := reader.Release(t.Context(), params(), src, mustKeys(t, k), "1.1.0", "linux", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	rc := reader.CopyPatch(t.Context(), params(), src, r, r.Patches[0])
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("serving the patch: %v", err)
	}
	want, _ := os.ReadFile(filepath.Join(repo, deltaPatch))
	if !bytes.Equal(got, want) {
		t.Error("served other bytes")
	}
}

func mustKeys(t *testing.T, ks ...crypto.Signer) *trust.Keys {
	t.Helper()
	tk, err := trust.NewKeys(pubs(ks...), 1)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}
