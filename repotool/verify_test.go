package repotool

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
)

// verify runs Verify on repo with pinned keys and returns the single result.
func verify1(t *testing.T, repo string, threshold int, trusted ...crypto.Signer) Result {
	t.Helper()
	results, err := Verify(context.Background(), VerifyConfig{Repo: repo, Keys: pubs(trusted...), Threshold: threshold})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 {
		t.Fatalf("%d results, want 1: %+v", len(results), results)
	}
	return results[0]
}

func wantFail(t *testing.T, res Result, reason string) {
	t.Helper()
	if res.OK || !strings.Contains(res.Error, reason) {
		t.Errorf("result %+v, want a failure containing %q", res, reason)
	}
}

func TestVerifyAcceptsGoodRelease(t *testing.T) {
	alice, bob := newSigner(t, keys.Ed25519), newSigner(t, keys.ECDSAP256)
	repo := releaseRepo(t, "1.0.0", alice, bob)
	res := verify1(t, repo, 2, alice, bob)
	if !res.OK || res.Path != "1.0.0/linux/amd64" || len(res.Keys) != 2 || res.Error != "" {
		t.Errorf("result %+v, want OK with 2 keys", res)
	}
}

func TestRejectsTamperedPayload(t *testing.T) {
	alice := newSigner(t, keys.Ed25519)
	repo := releaseRepo(t, "1.0.0", alice)
	p := filepath.Join(repo, "1.0.0/linux/amd64/app.bz2")
	data, _ := os.ReadFile(p)
	data[100] ^= 0x40
	os.WriteFile(p, data, 0o644)
	wantFail(t, verify1(t, repo, 1, alice), "payload does not match the signed release: 1.0.0/linux/amd64/app.bz2 has sha256")
}

func TestRejectsTamperedReleaseJSON(t *testing.T) {
	alice := newSigner(t, keys.Ed25519)
	repo := releaseRepo(t, "1.0.0", alice)
	p := filepath.Join(repo, "1.0.0/linux/amd64/release.json")
	data, _ := os.ReadFile(p)
	var m map[string]any
	json.Unmarshal(data, &m)
	m["size"] = m["size"].(float64) + 1
	data, _ = json.Marshal(m)
	os.WriteFile(p, data, 0o644)
	wantFail(t, verify1(t, repo, 1, alice), "signature threshold not met")
}

func TestRejectsReleaseUnderWrongPath(t *testing.T) {
	alice := newSigner(t, keys.Ed25519)
	repo := releaseRepo(t, "1.0.0", alice)
	// A validly signed 1.0.0 served as 2.0.0 (downgrade), and the linux
	// build served for arm64 (mix-and-match).
	if err := os.CopyFS(filepath.Join(repo, "2.0.0"), os.DirFS(filepath.Join(repo, "1.0.0"))); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(repo, "1.0.0"))
	wantFail(t, verify1(t, repo, 1, alice), `version "1.0.0", not "2.0.0"`)

	os.Rename(filepath.Join(repo, "2.0.0/linux/amd64"), filepath.Join(repo, "2.0.0/linux/arm64"))
	wantFail(t, verify1(t, repo, 1, alice), "release is for")
}

func TestRejectsBinaryNameWithPath(t *testing.T) {
	alice := newSigner(t, keys.Ed25519)
	repo := releaseRepo(t, "1.0.0", alice)
	p := filepath.Join(repo, "1.0.0/linux/amd64/release.json")
	data, _ := os.ReadFile(p)
	r, _ := release.Parse(data)
	// A correctly signed release whose binary points outside its directory:
	// the signer cannot make it safe, so it must be refused anyway.
	r.Binary = "../1.0.0/linux/amd64/app.bz2"
	r.Signatures = nil
	s, _ := keys.NewSigner(alice)
	if _, err := r.Sign(s); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{
		"binary": r.Binary, "hash": r.Hash, "size": r.Size, "version": r.Version, "os": r.OS, "arch": r.Arch,
		"compressed_hash": r.CompressedHash, "compressed_size": r.CompressedSize, "signatures": r.Signatures,
	})
	os.WriteFile(p, out, 0o644)
	wantFail(t, verify1(t, repo, 1, alice), "binary")
}

// TestRejectsPayloadNameClientsRefuse signs releases whose payload is a
// good bzip2 stream under a name clients refuse (apply decides the format
// by the same rule, internal/payload): verify must refuse them too, not
// approve a release that no client will install, and mirror must not copy
// them.
func TestRejectsPayloadNameClientsRefuse(t *testing.T) {
	for _, name := range []string{"app", "app.BZ2", "app.bzip2"} {
		t.Run(name, func(t *testing.T) {
			alice := newSigner(t, keys.Ed25519)
			repo := releaseRepo(t, "1.0.0")
			renamePayload(t, repo, "1.0.0/linux/amd64", name, alice)
			wantFail(t, verify1(t, repo, 1, alice), "release metadata rejected: payload \""+name+"\": unknown compression")

			dst := t.TempDir()
			_, err := Mirror(t.Context(), MirrorConfig{From: repo, To: dst, Keys: pubs(alice)})
			if !errors.Is(err, ErrUnverified) || !strings.Contains(err.Error(), "unknown compression") {
				t.Fatalf("mirror: %v, want ErrUnverified for a name clients refuse", err)
			}
			if left, _ := os.ReadDir(filepath.Join(dst, "1.0.0/linux/amd64")); len(left) != 0 {
				t.Errorf("mirror wrote %v", left)
			}
		})
	}
}

// renamePayload renames the payload of the release in dir to name and
// signs the release again with k alone.
func renamePayload(t *testing.T, repo, dir, name string, k crypto.Signer) {
	t.Helper()
	dir = filepath.Join(repo, filepath.FromSlash(dir))
	data, err := os.ReadFile(filepath.Join(dir, release.FileName))
	if err != nil {
		t.Fatal(err)
	}
	r, err := release.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, r.Binary), filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	r.Binary, r.Signatures = name, nil
	s, err := keys.NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sign(s); err != nil {
		t.Fatal(err)
	}
	if data, err = r.Marshal(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, release.FileName), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRejectsMissingPayload(t *testing.T) {
	alice := newSigner(t, keys.Ed25519)
	repo := releaseRepo(t, "1.0.0", alice)
	os.Remove(filepath.Join(repo, "1.0.0/linux/amd64/app.bz2"))
	wantFail(t, verify1(t, repo, 1, alice), "not found in the repository: ")
}

func TestRejectsThresholdNotMet(t *testing.T) {
	alice, bob := newSigner(t, keys.Ed25519), newSigner(t, keys.Ed25519)
	repo := releaseRepo(t, "1.0.0", alice)
	wantFail(t, verify1(t, repo, 2, alice, bob), "1 of 2 required")
	// The same signature entry twice still counts once.
	p := filepath.Join(repo, "1.0.0/linux/amd64/release.json")
	data, _ := os.ReadFile(p)
	var m map[string]any
	json.Unmarshal(data, &m)
	sigs := m["signatures"].([]any)
	m["signatures"] = append(sigs, sigs[0])
	data, _ = json.Marshal(m)
	os.WriteFile(p, data, 0o644)
	wantFail(t, verify1(t, repo, 2, alice, bob), "1 of 2 required")
}

func TestRejectsUnsignedAndUntrusted(t *testing.T) {
	alice, mallory := newSigner(t, keys.Ed25519), newSigner(t, keys.Ed25519)
	wantFail(t, verify1(t, releaseRepo(t, "1.0.0"), 1, alice), "not signed")
	wantFail(t, verify1(t, releaseRepo(t, "1.0.0", mallory), 1, alice), "0 of 1 required")
}

func TestRejectsDecompressionBomb(t *testing.T) {
	// The payload is genuine, but the signed size is smaller than what it
	// decompresses to: the reader must stop at size+1 and refuse.
	alice := newSigner(t, keys.Ed25519)
	repo := releaseRepo(t, "1.0.0")
	p := filepath.Join(repo, "1.0.0/linux/amd64/release.json")
	data, _ := os.ReadFile(p)
	r, _ := release.Parse(data)
	r.Size = 100
	s, _ := keys.NewSigner(alice)
	r.Sign(s)
	out, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, out, 0o644)
	wantFail(t, verify1(t, repo, 1, alice), "decompresses to more than the signed 100 bytes")
}

func TestVerifyVersionAndNoRelease(t *testing.T) {
	alice := newSigner(t, keys.Ed25519)
	repo := releaseRepo(t, "1.0.0", alice)
	_, err := Verify(context.Background(), VerifyConfig{Repo: repo, Keys: pubs(alice), Version: "2.0.0"})
	if !errors.Is(err, ErrNoRelease) {
		t.Errorf("err = %v, want ErrNoRelease", err)
	}
	_, err = Verify(context.Background(), VerifyConfig{Repo: t.TempDir(), Keys: pubs(alice)})
	if !errors.Is(err, ErrNoRelease) {
		t.Errorf("empty repository: err = %v, want ErrNoRelease", err)
	}
	// Temporary files and hidden directories are not releases.
	os.MkdirAll(filepath.Join(repo, ".git/linux/amd64"), 0o755)
	os.WriteFile(filepath.Join(repo, ".git/linux/amd64/release.json"), []byte("{}"), 0o644)
	res := verify1(t, repo, 1, alice)
	if !res.OK {
		t.Errorf("result %+v", res)
	}
}

func TestVerifyOverHTTP(t *testing.T) {
	alice := newSigner(t, keys.Ed25519)
	repo := releaseRepo(t, "1.0.0", alice)
	srv := httptest.NewServer(http.FileServer(http.Dir(repo)))
	defer srv.Close()
	cfg := VerifyConfig{Repo: srv.URL + "/", Keys: pubs(alice), Version: "1.0.0"}
	results, err := Verify(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || !results[0].OK || results[0].Path != "1.0.0/linux/amd64" {
		t.Fatalf("results %+v, want one OK", results)
	}

	os.Remove(filepath.Join(repo, "1.0.0/linux/amd64/app.bz2"))
	results, err = Verify(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	wantFail(t, results[0], "not found in the repository: GET http://")

	cfg.Version = "3.0.0"
	if _, err := Verify(context.Background(), cfg); !errors.Is(err, ErrNoRelease) {
		t.Errorf("err = %v, want ErrNoRelease", err)
	}
	cfg.Version = ""
	if _, err := Verify(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "needs --version") {
		t.Errorf("err = %v, want a request for --version", err)
	}
}

func TestRejectsOversizedReleaseJSON(t *testing.T) {
	alice := newSigner(t, keys.Ed25519)
	repo := releaseRepo(t, "1.0.0", alice)
	p := filepath.Join(repo, "1.0.0/linux/amd64/release.json")
	data, _ := os.ReadFile(p)
	padded := strings.Replace(string(data), "{", "{"+strings.Repeat(" ", 64<<10), 1)
	os.WriteFile(p, []byte(padded), 0o644)
	wantFail(t, verify1(t, repo, 1, alice), "release.json is over 65536 bytes")
}

func TestVerifyUnreachableServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	alice := newSigner(t, keys.Ed25519)
	_, err := Verify(context.Background(), VerifyConfig{Repo: url, Keys: pubs(alice), Version: "1.0.0"})
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("err = %v, want one error saying the server is unreachable", err)
	}
}
