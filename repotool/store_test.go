package repotool

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/blobrepo"
	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/storetest"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
)

// stores are the kinds of repository every store test runs against: a
// directory (plain path and file:// URL) and the emulated buckets (see
// internal/storetest).
var stores = []string{"dir", "file", "s3", "gcs", "azure"}

// newRepoSpec returns an empty repository of the named kind: a new
// directory (plain path, or file:// URL), or a fresh key prefix of the
// emulator's bucket, whose objects are removed when the test ends.
func newRepoSpec(t *testing.T, kind string) string {
	t.Helper()
	switch kind {
	case "dir":
		return filepath.Join(t.TempDir(), "repo")
	case "file":
		return "file:///" + strings.TrimPrefix(filepath.ToSlash(t.TempDir()), "/")
	}
	repo := storetest.URL(t, kind, "repotool")
	t.Cleanup(func() {
		ctx := context.WithoutCancel(t.Context())
		st, err := blobrepo.Open(ctx, repo)
		if err != nil {
			return
		}
		defer st.Close()
		st.List(ctx, "", func(p string) error { return st.Delete(ctx, p) })
	})
	return repo
}

// forEachStore runs test against a fresh repository of every kind.
func forEachStore(t *testing.T, test func(t *testing.T, repo string)) {
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			test(t, newRepoSpec(t, kind))
		})
	}
}

// openTestStore opens repo with blobrepo, to look at it from outside.
func openTestStore(t *testing.T, repo string) *blobrepo.Store {
	t.Helper()
	if !strings.Contains(repo, "://") {
		repo = "file:///" + strings.TrimPrefix(filepath.ToSlash(repo), "/")
	}
	st, err := blobrepo.Open(t.Context(), repo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// present reports whether path exists in repo.
func present(t *testing.T, repo, path string) bool {
	t.Helper()
	_, err := openTestStore(t, repo).Attributes(t.Context(), path)
	if err != nil && !errors.Is(err, blobrepo.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func TestStoreAddSignVerify(t *testing.T) {
	forEachStore(t, func(t *testing.T, repo string) {
		ctx := t.Context()
		alice, bob := newSigner(t, keys.Ed25519), newSigner(t, keys.ECDSAP256)
		bin := filepath.Join(t.TempDir(), "app")
		writeELF(t, bin, elf.EM_X86_64, 50000)
		if _, err := Add(ctx, AddConfig{Repo: repo, Binary: bin, Version: "1.2.0", Keys: []crypto.Signer{alice}}); err != nil {
			t.Fatal(err)
		}
		_, err := Add(ctx, AddConfig{Repo: repo, Binary: bin, Version: "1.2.0", Keys: []crypto.Signer{alice}})
		if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "release 1.2.0/linux/amd64 already exists") {
			t.Fatalf("second add: %v, want ErrExists", err)
		}
		res, err := Sign(ctx, SignConfig{Repo: repo, Version: "1.2.0", OS: "linux", Arch: "amd64", Keys: []crypto.Signer{bob}, Binary: bin})
		if err != nil || len(res.Added) != 1 {
			t.Fatalf("sign: %+v, %v", res, err)
		}
		results, err := Verify(ctx, VerifyConfig{Repo: repo, Keys: pubs(alice, bob), Threshold: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(results) != 1 || !results[0].OK || results[0].Path != "1.2.0/linux/amd64" {
			t.Fatalf("verify: %+v", results)
		}
		writeELF(t, bin, elf.EM_X86_64, 60000)
		if _, err := Add(ctx, AddConfig{Repo: repo, Binary: bin, Version: "1.2.0", Keys: []crypto.Signer{alice, bob}, Force: true}); err != nil {
			t.Fatalf("add --force: %v", err)
		}
		results, err = Verify(ctx, VerifyConfig{Repo: repo, Keys: pubs(alice, bob), Threshold: 2, Version: "1.2.0"})
		if err != nil || len(results) != 1 || !results[0].OK {
			t.Fatalf("verify after --force: %+v, %v", results, err)
		}
		if results, _ := Verify(ctx, VerifyConfig{Repo: repo, Keys: pubs(alice)}); len(results) != 1 || results[0].Keys[0] == "" {
			t.Fatalf("verify: %+v", results)
		}
	})
}

func TestRejectsConcurrentDuplicateAdd(t *testing.T) {
	forEachStore(t, func(t *testing.T, repo string) {
		k := newSigner(t, keys.Ed25519)
		if _, err := openStore(t.Context(), repo, true, true, nil); err != nil {
			t.Fatal(err)
		}
		const n = 2
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			bin := filepath.Join(t.TempDir(), "app")
			writeELF(t, bin, elf.EM_X86_64, 200000+i)
			wg.Go(func() {
				_, errs[i] = Add(t.Context(), AddConfig{Repo: repo, Binary: bin, Version: "1.0.0", Keys: []crypto.Signer{k}})
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrExists):
				if !strings.Contains(err.Error(), "1.0.0/linux/amd64") {
					t.Errorf("the error does not name the release: %v", err)
				}
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d concurrent adds succeeded: %v", ok, n, errs)
		}
		results, err := Verify(t.Context(), VerifyConfig{Repo: repo, Keys: pubs(k)})
		if err != nil || len(results) != 1 || !results[0].OK {
			t.Fatalf("the winner's release does not verify: %+v, %v", results, err)
		}
	})
}

// TestSurvivesAddLosingToForcedAdd lets a forced add of the same release
// run to the end between an add's payload upload and its release.json:
// the forced add replaces the payload (it was the first add's, with no
// release.json yet) and writes its own release.json, so the first add
// fails on release.json. It must then leave the payload alone, which is
// now the winner's: deleting it would leave a release that names a
// missing payload.
func TestSurvivesAddLosingToForcedAdd(t *testing.T) {
	forEachStore(t, func(t *testing.T, repo string) {
		k := newSigner(t, keys.Ed25519)
		first, second := filepath.Join(t.TempDir(), "app"), filepath.Join(t.TempDir(), "app")
		writeELF(t, first, elf.EM_X86_64, 30000)
		writeELF(t, second, elf.EM_X86_64, 30001)
		var forced error
		_, err := Add(t.Context(), AddConfig{
			Repo: repo, Binary: first, Version: "1.0.0", Keys: []crypto.Signer{k},
			betweenUploads: func() {
				_, forced = Add(t.Context(), AddConfig{Repo: repo, Binary: second, Version: "1.0.0", Keys: []crypto.Signer{k}, Force: true})
			},
		})
		if forced != nil {
			t.Fatalf("the forced add failed: %v", forced)
		}
		if !errors.Is(err, ErrExists) {
			t.Fatalf("the add that lost the race: %v, want ErrExists", err)
		}
		results, err := Verify(t.Context(), VerifyConfig{Repo: repo, Keys: pubs(k)})
		if err != nil || len(results) != 1 || !results[0].OK {
			t.Fatalf("the forced add's release does not verify: %+v, %v", results, err)
		}
		st, err := openStore(t.Context(), repo, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		data, err := readRepoFile(t.Context(), st.rd, "1.0.0/linux/amd64/"+release.FileName, limits.ReleaseJSON)
		if err != nil {
			t.Fatal(err)
		}
		r, err := release.ParseLegacyUnsafe(data)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(second)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(want); r.Hash != hex.EncodeToString(sum[:]) {
			t.Fatalf("the release in the repository is not the forced add's")
		}
	})
}

func TestSurvivesConcurrentSign(t *testing.T) {
	forEachStore(t, func(t *testing.T, repo string) {
		ctx := t.Context()
		bin := filepath.Join(t.TempDir(), "app")
		writeELF(t, bin, elf.EM_X86_64, 20000)
		if _, err := Add(ctx, AddConfig{Repo: repo, Binary: bin, Version: "1.0.0"}); err != nil {
			t.Fatal(err)
		}
		signers := []crypto.Signer{newSigner(t, keys.Ed25519), newSigner(t, keys.ECDSAP256), newSigner(t, keys.Ed25519)}
		errs := make([]error, len(signers))
		var wg sync.WaitGroup
		for i, k := range signers {
			wg.Go(func() {
				_, errs[i] = Sign(ctx, SignConfig{Repo: repo, Version: "1.0.0", OS: "linux", Arch: "amd64", Keys: []crypto.Signer{k}, Binary: bin})
			})
		}
		wg.Wait()
		var signed []crypto.Signer
		for i, err := range errs {
			switch {
			case err == nil:
				signed = append(signed, signers[i])
			case errors.Is(err, ErrConflict):
			default:
				t.Errorf("signer %d: %v", i, err)
			}
		}
		if len(signed) == 0 {
			t.Fatal("no signer succeeded")
		}
		// Every signer that was told it succeeded has its signature there.
		results, err := Verify(ctx, VerifyConfig{Repo: repo, Keys: pubs(signed...), Threshold: len(signed)})
		if err != nil || len(results) != 1 || !results[0].OK {
			t.Fatalf("a signature was lost (%d succeeded): %+v, %v", len(signed), results, err)
		}
		// The others can sign again, and then every signature is there.
		for i, err := range errs {
			if err != nil {
				if _, err := Sign(ctx, SignConfig{Repo: repo, Version: "1.0.0", OS: "linux", Arch: "amd64", Keys: []crypto.Signer{signers[i]}, Binary: bin}); err != nil {
					t.Fatalf("signer %d again: %v", i, err)
				}
			}
		}
		results, err = Verify(ctx, VerifyConfig{Repo: repo, Keys: pubs(signers...), Threshold: len(signers)})
		if err != nil || len(results) != 1 || !results[0].OK {
			t.Fatalf("after retries: %+v, %v", results, err)
		}
	})
}

func TestSignRefusesStaleToken(t *testing.T) {
	// Another signer writes release.json after Sign read it: Sign must
	// fail with ErrConflict and leave the other signature in place.
	forEachStore(t, func(t *testing.T, repo string) {
		ctx := t.Context()
		bin := filepath.Join(t.TempDir(), "app")
		writeELF(t, bin, elf.EM_X86_64, 20000)
		if _, err := Add(ctx, AddConfig{Repo: repo, Binary: bin, Version: "1.0.0"}); err != nil {
			t.Fatal(err)
		}
		first, second := newSigner(t, keys.Ed25519), newSigner(t, keys.Ed25519)
		cfg := func(k crypto.Signer) SignConfig {
			return SignConfig{Repo: repo, Version: "1.0.0", OS: "linux", Arch: "amd64", Keys: []crypto.Signer{k}, Binary: bin}
		}
		slow := cfg(first)
		slow.beforeWrite = func() {
			if _, err := Sign(ctx, cfg(second)); err != nil {
				t.Errorf("the other signer: %v", err)
			}
		}
		if _, err := Sign(ctx, slow); !errors.Is(err, ErrConflict) {
			t.Fatalf("sign over a release.json changed meanwhile: %v, want ErrConflict", err)
		}
		results, err := Verify(ctx, VerifyConfig{Repo: repo, Keys: pubs(second)})
		if err != nil || len(results) != 1 || !results[0].OK {
			t.Fatalf("the other signer's signature was lost: %+v, %v", results, err)
		}
	})
}

func TestRejectsConcurrentPromote(t *testing.T) {
	// Another promote writes the channel after this one read it: this one
	// must fail with ErrConflict and leave the other's channel in place,
	// for a new channel (create-only) and an existing one (if-match).
	forEachStore(t, func(t *testing.T, repo string) {
		ctx := t.Context()
		c := newCast(t)
		if _, err := Init(ctx, InitConfig{Repo: repo, Pin: pinFor(repo), RootKeys: pubs(c.root), ReleaseKeys: pubs(c.release), ChannelKeys: pubs(c.channel), Expires: inAYear, Keys: []crypto.Signer{c.root}}); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(t.TempDir(), "app")
		writeELF(t, bin, elf.EM_X86_64, 20000)
		if _, err := Add(ctx, AddConfig{Repo: repo, Binary: bin, Version: "1.0.0", Keys: []crypto.Signer{c.release}}); err != nil {
			t.Fatal(err)
		}
		for _, existing := range []bool{false, true} {
			cfg := PromoteConfig{Repo: repo, Pin: pinFor(repo), Channel: "stable", Version: "1.0.0", Expires: inAWeek, Keys: []crypto.Signer{c.channel}}
			if existing {
				cfg.Version, cfg.Refresh = "", true
			}
			var other []byte
			slow := cfg
			slow.beforeWrite = func() {
				fast := cfg
				fast.Expires = inAWeek.Add(time.Hour)
				if _, err := Promote(ctx, fast); err != nil {
					t.Errorf("the other promote: %v", err)
				}
				other = readStoreFile(t, repo, "channels/stable.json")
			}
			if _, err := Promote(ctx, slow); !errors.Is(err, ErrConflict) {
				t.Fatalf("existing channel %v: promote over a channel written meanwhile: %v, want ErrConflict", existing, err)
			}
			if !bytes.Equal(readStoreFile(t, repo, "channels/stable.json"), other) {
				t.Fatalf("existing channel %v: the other promote's channel was overwritten", existing)
			}
		}
	})
}

func TestStoreRefusesHTTPWrites(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "app")
	writeELF(t, bin, elf.EM_X86_64, 2000)
	_, err := Sign(context.Background(), SignConfig{Repo: "http://127.0.0.1:1/repo", Version: "1.0.0", OS: "linux", Arch: "amd64", Keys: []crypto.Signer{newSigner(t, keys.Ed25519)}, Binary: bin})
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("sign over HTTP: %v", err)
	}
	_, err = Verify(context.Background(), VerifyConfig{Repo: "ftp://example/repo", Keys: pubs(newSigner(t, keys.Ed25519))})
	if err == nil || !strings.Contains(err.Error(), `unknown URL scheme "ftp"`) {
		t.Fatalf("verify ftp: %v", err)
	}
}

func TestStoreRootAndChannel(t *testing.T) {
	forEachStore(t, func(t *testing.T, repo string) {
		ctx := t.Context()
		c := newCast(t)
		root2 := newSigner(t, keys.Ed25519)
		if _, err := Init(ctx, InitConfig{Repo: repo, Pin: pinFor(repo), RootKeys: pubs(c.root), ReleaseKeys: pubs(c.release), ChannelKeys: pubs(c.channel), Expires: inAYear, Keys: []crypto.Signer{c.root}}); err != nil {
			t.Fatal(err)
		}
		if _, err := Init(ctx, InitConfig{Repo: repo, Pin: pinFor(repo), RootKeys: pubs(c.root), ReleaseKeys: pubs(c.release), Expires: inAYear, Keys: []crypto.Signer{c.root}}); !errors.Is(err, ErrExists) {
			t.Fatalf("second init: %v", err)
		}
		bin := filepath.Join(t.TempDir(), "app")
		writeELF(t, bin, elf.EM_X86_64, 20000)
		if _, err := Add(ctx, AddConfig{Repo: repo, Binary: bin, Version: "1.0.0", Keys: []crypto.Signer{c.release}}); err != nil {
			t.Fatal(err)
		}
		if _, err := Promote(ctx, PromoteConfig{Repo: repo, Pin: pinFor(repo), Channel: "stable", Version: "1.0.0", Expires: inAWeek, Keys: []crypto.Signer{c.channel}}); err != nil {
			t.Fatal(err)
		}
		// A new root key: the old one alone makes a draft, the new one
		// completes it.
		res, err := Rotate(ctx, RotateConfig{Repo: repo, Pin: pinFor(repo), AddRootKeys: pubs(root2), RootThreshold: 2, Keys: []crypto.Signer{c.root}})
		if err != nil || res.Complete {
			t.Fatalf("rotate: %+v, %v", res, err)
		}
		if _, err := Rotate(ctx, RotateConfig{Repo: repo, Pin: pinFor(repo), Expires: inAYear.Add(time.Hour), Keys: []crypto.Signer{c.root}}); !errors.Is(err, ErrDraftPending) {
			t.Fatalf("rotate with a draft pending: %v", err)
		}
		if res, err = SignRoot(ctx, SignRootConfig{Repo: repo, Pin: pinFor(repo), Keys: []crypto.Signer{root2}}); err != nil || !res.Complete || res.Version != 2 {
			t.Fatalf("sign-root: %+v, %v", res, err)
		}
		if present(t, repo, "2.root.json.draft") {
			t.Error("the draft is still there")
		}
		if _, err := Promote(ctx, PromoteConfig{Repo: repo, Pin: pinFor(repo), Channel: "stable", Refresh: true, Expires: inAWeek.Add(time.Hour), Keys: []crypto.Signer{c.channel}}); err != nil {
			t.Fatal(err)
		}
		one := readStoreFile(t, repo, "1.root.json")
		results, err := Verify(ctx, VerifyConfig{Repo: repo, Root: one})
		if err != nil {
			t.Fatal(err)
		}
		if len(results) != 4 { // two roots, a release, a channel
			t.Errorf("verify found %d results: %+v", len(results), results)
		}
		for _, r := range results {
			if !r.OK {
				t.Errorf("%s: %s", r.Path, r.Error)
			}
		}
	})
}

func TestRejectsConcurrentRotate(t *testing.T) {
	forEachStore(t, func(t *testing.T, repo string) {
		ctx := t.Context()
		c := newCast(t)
		if _, err := Init(ctx, InitConfig{Repo: repo, Pin: pinFor(repo), RootKeys: pubs(c.root), ReleaseKeys: pubs(c.release), Expires: inAYear, Keys: []crypto.Signer{c.root}}); err != nil {
			t.Fatal(err)
		}
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				_, errs[i] = Rotate(ctx, RotateConfig{Repo: repo, Pin: pinFor(repo), Expires: inAYear.Add(time.Duration(i+1) * time.Hour), Keys: []crypto.Signer{c.root}})
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrExists), errors.Is(err, ErrConflict):
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		// Both may succeed only one after the other (versions 2 and 3).
		want := 1
		if ok == 2 {
			want = 2
			if !present(t, repo, "3.root.json") {
				t.Fatal("two rotations succeeded but there is no root 3")
			}
		}
		if ok != want {
			t.Fatalf("%d rotations succeeded: %v", ok, errs)
		}
		if _, err := Verify(ctx, VerifyConfig{Repo: repo, Root: readStoreFile(t, repo, "1.root.json")}); err != nil {
			t.Fatal(err)
		}
	})
}

// readStoreFile reads a whole file of repo.
func readStoreFile(t *testing.T, repo, name string) []byte {
	t.Helper()
	r, err := openTestStore(t, repo).Get(t.Context(), name, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
