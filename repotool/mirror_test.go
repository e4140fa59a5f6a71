package repotool

import (
	"bytes"
	"context"
	"crypto"
	"debug/elf"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
)

// fullRepo makes a directory repository with two signed releases of
// 1.0.0, two roots and a channel, and returns it with its keys and the
// bytes of its first root.
func fullRepo(t *testing.T) (string, cast, []byte) {
	t.Helper()
	c := newCast(t)
	repo := releaseRepo(t, "1.0.0", c.release)
	addRelease(t, repo, "1.0.0", elf.EM_AARCH64, c.release)
	initRepo(t, repo, c)
	ctx := context.Background()
	if _, err := Rotate(ctx, RotateConfig{Repo: repo, Pin: pinFor(repo), Expires: inAYear.Add(time.Hour), Keys: []crypto.Signer{c.root}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Promote(ctx, PromoteConfig{Repo: repo, Pin: pinFor(repo), Channel: "stable", Version: "1.0.0", Expires: inAWeek, Keys: []crypto.Signer{c.channel}}); err != nil {
		t.Fatal(err)
	}
	one, err := os.ReadFile(filepath.Join(repo, "1.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	return repo, c, one
}

// files returns the non-hidden files of a directory and their contents.
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, _ := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	return out
}

func TestMirrorRoundTrip(t *testing.T) {
	src, _, one := fullRepo(t)
	ctx := t.Context()
	hops := []string{src}
	for _, kind := range []string{"s3", "gcs", "azure", "dir"} {
		hops = append(hops, newRepoSpec(t, kind))
	}
	for i := 1; i < len(hops); i++ {
		res, err := Mirror(ctx, MirrorConfig{From: hops[i-1], To: hops[i], Root: one, CheckBinary: i == 2})
		if err != nil {
			t.Fatalf("mirror %s -> %s: %v", hops[i-1], hops[i], err)
		}
		if res.Root != 2 || len(res.Copied) != 8 || len(res.Skipped) != 0 {
			t.Fatalf("mirror %s -> %s: %+v", hops[i-1], hops[i], res)
		}
		if last := res.Copied[len(res.Copied)-1]; last != "channels/stable.json" {
			t.Errorf("last file copied is %s, not the channel", last)
		}
	}
	last := hops[len(hops)-1]
	got, want := files(t, last), files(t, src)
	if len(got) != len(want) {
		t.Fatalf("round trip has %d files, the source %d", len(got), len(want))
	}
	for name, data := range want {
		if got[name] != data {
			t.Errorf("%s differs after the round trip", name)
		}
	}
	results, err := Verify(ctx, VerifyConfig{Repo: hops[2], Root: one})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if !r.OK {
			t.Errorf("%s in the gcs mirror: %s", r.Path, r.Error)
		}
	}
	// Again: everything is there already.
	res, err := Mirror(ctx, MirrorConfig{From: hops[1], To: hops[2], Root: one})
	if err != nil || len(res.Copied) != 0 || len(res.Skipped) != 8 {
		t.Fatalf("second mirror: %+v, %v", res, err)
	}
}

func TestRejectsPoisonedMirror(t *testing.T) {
	mallory := newSigner(t, keys.Ed25519)
	arm := "1.0.0/linux/arm64"
	tests := []struct {
		name   string
		path   string // what the error must name
		poison func(t *testing.T, repo string)
	}{
		{"release signed by another key", arm, func(t *testing.T, repo string) {
			bin := filepath.Join(t.TempDir(), "app")
			writeELF(t, bin, elf.EM_AARCH64, 3000)
			if _, err := Add(context.Background(), AddConfig{Repo: repo, Binary: bin, Version: "1.0.0", Keys: []crypto.Signer{mallory}, Force: true}); err != nil {
				t.Fatal(err)
			}
		}},
		{"release.json edited", arm, func(t *testing.T, repo string) {
			edit(t, filepath.Join(repo, arm, "release.json"), `"size": 2064`, `"size": 2065`)
		}},
		{"payload flipped", arm, func(t *testing.T, repo string) {
			p := filepath.Join(repo, arm, "app.bz2")
			data, _ := os.ReadFile(p)
			data[len(data)/2] ^= 1
			os.WriteFile(p, data, 0o644)
		}},
		{"payload truncated", arm, func(t *testing.T, repo string) {
			p := filepath.Join(repo, arm, "app.bz2")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)-1], 0o644)
		}},
		{"payload extended", arm, func(t *testing.T, repo string) {
			p := filepath.Join(repo, arm, "app.bz2")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, append(data, 0), 0o644)
		}},
		{"release moved to another version", "9.9.9/linux/amd64", func(t *testing.T, repo string) {
			os.MkdirAll(filepath.Join(repo, "9.9.9/linux/amd64"), 0o755)
			for _, f := range []string{"release.json", "app.bz2"} {
				data, _ := os.ReadFile(filepath.Join(repo, "1.0.0/linux/amd64", f))
				os.WriteFile(filepath.Join(repo, "9.9.9/linux/amd64", f), data, 0o644)
			}
		}},
		{"root edited", "2.root.json", func(t *testing.T, repo string) {
			edit(t, filepath.Join(repo, "2.root.json"), `"version": 2`, `"version": 3`)
		}},
		{"channel edited", "channels/stable.json", func(t *testing.T, repo string) {
			edit(t, filepath.Join(repo, "channels/stable.json"), `"release": "1.0.0"`, `"release": "1.0.1"`)
		}},
	}
	for _, tt := range tests {
		for _, kind := range []string{"dir", "s3", "gcs", "azure"} {
			t.Run(tt.name+"/"+kind, func(t *testing.T) {
				t.Parallel()
				src, _, one := fullRepo(t)
				tt.poison(t, src)
				dst := newRepoSpec(t, kind)
				_, err := Mirror(t.Context(), MirrorConfig{From: src, To: dst, Root: one})
				var me *MirrorError
				if !errors.As(err, &me) || me.Path != tt.path || !errors.Is(err, ErrUnverified) {
					t.Fatalf("got %v, want a MirrorError for %s wrapping ErrUnverified", err, tt.path)
				}
				for _, name := range []string{tt.path + "/release.json", tt.path + "/app.bz2", tt.path, "root.json", "channels/stable.json"} {
					if !strings.HasSuffix(name, ".json") && !strings.HasSuffix(name, ".bz2") {
						continue
					}
					if present(t, dst, name) {
						t.Errorf("%s was written to the mirror", name)
					}
				}
			})
		}
	}
}

// edit replaces old with new in the file at p, which must contain it.
func edit(t *testing.T, p, old, new string) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil || !bytes.Contains(data, []byte(old)) {
		t.Fatalf("%s: %v, or no %q in it", p, err, old)
	}
	os.WriteFile(p, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644)
}

func TestSurvivesBrokenMirrorSource(t *testing.T) {
	// The source's server drops the connection half way through a
	// payload: the destination must not keep the half it got.
	c := newCast(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	writeELF(t, bin, elf.EM_X86_64, 3<<20)
	src := filepath.Join(dir, "repo")
	if _, err := Add(t.Context(), AddConfig{Repo: src, Binary: bin, Version: "1.0.0", Keys: []crypto.Signer{c.release}}); err != nil {
		t.Fatal(err)
	}
	files := http.FileServer(http.Dir(src))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, ".bz2") {
			files.ServeHTTP(w, r)
			return
		}
		data, _ := os.ReadFile(filepath.Join(src, filepath.FromSlash(r.URL.Path)))
		w.Header().Set("Content-Length", "999999999")
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	t.Cleanup(srv.Close)
	forEachStore(t, func(t *testing.T, dst string) {
		_, err := Mirror(t.Context(), MirrorConfig{From: srv.URL, To: dst, Keys: pubs(c.release), Versions: []string{"1.0.0"}})
		var me *MirrorError
		if !errors.As(err, &me) || me.Path != "1.0.0/linux/amd64" {
			t.Fatalf("got %v, want a MirrorError for 1.0.0/linux/amd64", err)
		}
		for _, name := range []string{"1.0.0/linux/amd64/app.bz2", "1.0.0/linux/amd64/release.json"} {
			if present(t, dst, name) {
				t.Errorf("%s is in the mirror", name)
			}
		}
	})
}

func TestMirrorTrustModes(t *testing.T) {
	src, c, one := fullRepo(t)
	ctx := t.Context()
	if _, err := Mirror(ctx, MirrorConfig{From: src, To: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "give keys or a root") {
		t.Fatalf("no trust: %v", err)
	}
	if _, err := Mirror(ctx, MirrorConfig{From: src, To: t.TempDir(), Root: one, Keys: pubs(c.release)}); err == nil {
		t.Fatal("keys and root together accepted")
	}
	dst := filepath.Join(t.TempDir(), "keys")
	res, err := Mirror(ctx, MirrorConfig{From: src, To: dst, Keys: pubs(c.release)})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1.root.json", "2.root.json", "root.json", "channels/stable.json"}
	if len(res.Copied) != 4 || !slices.Equal(res.NotCopied, want) {
		t.Fatalf("keys only: %+v", res)
	}
	dst = filepath.Join(t.TempDir(), "unverified")
	res, err = Mirror(ctx, MirrorConfig{From: src, To: dst, UnverifiedUnsafe: true})
	if err != nil || len(res.Copied) != 8 {
		t.Fatalf("unverified: %+v, %v", res, err)
	}
	// Unverified still checks payloads against their release.json.
	p := filepath.Join(src, "1.0.0/linux/amd64/app.bz2")
	data, _ := os.ReadFile(p)
	os.WriteFile(p, append(data, 0), 0o644)
	if _, err := Mirror(ctx, MirrorConfig{From: src, To: t.TempDir(), UnverifiedUnsafe: true}); !errors.Is(err, ErrUnverified) {
		t.Fatalf("unverified with a bad payload: %v", err)
	}
}

func TestMirrorUpdates(t *testing.T) {
	src, c, one := fullRepo(t)
	ctx := t.Context()
	dst := t.TempDir()
	if _, err := Mirror(ctx, MirrorConfig{From: src, To: dst, Root: one}); err != nil {
		t.Fatal(err)
	}
	// One more signature in the source: replaced without --force.
	if _, err := Sign(ctx, SignConfig{Repo: src, Version: "1.0.0", OS: "linux", Arch: "amd64", Keys: []crypto.Signer{newSigner(t, keys.Ed25519)}, Binary: binaryOf(src)}); err != nil {
		t.Fatal(err)
	}
	res, err := Mirror(ctx, MirrorConfig{From: src, To: dst, Root: one})
	if err != nil || !slices.Equal(res.Copied, []string{"1.0.0/linux/amd64/release.json"}) {
		t.Fatalf("after a signature: %+v, %v", res, err)
	}
	// A signature only the destination has: not taken away without
	// --force, since a client may need it for its threshold.
	if _, err := Sign(ctx, SignConfig{Repo: dst, Version: "1.0.0", OS: "linux", Arch: "amd64", Keys: []crypto.Signer{newSigner(t, keys.Ed25519)}, Binary: binaryOf(src)}); err != nil {
		t.Fatal(err)
	}
	before := files(t, dst)["1.0.0/linux/amd64/release.json"]
	if _, err := Mirror(ctx, MirrorConfig{From: src, To: dst, Root: one}); !errors.Is(err, ErrExists) {
		t.Fatalf("a mirror that would drop a signature: %v, want ErrExists", err)
	}
	if files(t, dst)["1.0.0/linux/amd64/release.json"] != before {
		t.Fatal("the destination lost a signature")
	}
	// Another release of the same version: refused unless forced.
	bin := filepath.Join(t.TempDir(), "app")
	writeELF(t, bin, elf.EM_X86_64, 5000)
	if _, err := Add(ctx, AddConfig{Repo: src, Binary: bin, Version: "1.0.0", Keys: []crypto.Signer{c.release}, Force: true}); err != nil {
		t.Fatal(err)
	}
	_, err = Mirror(ctx, MirrorConfig{From: src, To: dst, Root: one})
	var me *MirrorError
	if !errors.As(err, &me) || me.Path != "1.0.0/linux/amd64" || !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("a different release: %v", err)
	}
	if _, err := Mirror(ctx, MirrorConfig{From: src, To: dst, Root: one, Force: true}); err != nil {
		t.Fatal(err)
	}
	if got, want := files(t, dst), files(t, src); len(got) != len(want) || got["1.0.0/linux/amd64/app.bz2"] != want["1.0.0/linux/amd64/app.bz2"] {
		t.Fatal("forced mirror differs from the source")
	}
}

// misbuild re-signs, with k, the release.json of the release in dir of the
// directory repository repo with a binary hash its payload does not
// decompress to: signed, and its payload matches the compressed hash, so
// only decompressing it (mirror --verify) tells.
func misbuild(t *testing.T, repo, dir string, k crypto.Signer) {
	t.Helper()
	p := filepath.Join(repo, filepath.FromSlash(dir), release.FileName)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := release.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	r.Hash, r.Signatures = strings.Repeat("0", 64), nil
	signer, err := keys.NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sign(signer); err != nil {
		t.Fatal(err)
	}
	if data, err = r.Marshal(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRejectsMisbuiltPayloadWithVerify mirrors, with --verify, a signed
// release whose payload does not decompress to the signed binary: nothing
// of it may be written, neither into an empty destination nor, with
// --force, over the good release the destination holds.
func TestRejectsMisbuiltPayloadWithVerify(t *testing.T) {
	k := newSigner(t, keys.Ed25519)
	const dir = "1.0.0/linux/amd64"
	for _, kind := range []string{"dir", "s3"} {
		t.Run(kind, func(t *testing.T) {
			src := releaseRepo(t, "1.0.0", k)
			cfg := MirrorConfig{From: src, To: newRepoSpec(t, kind), Keys: pubs(k), CheckBinary: true}
			if _, err := Mirror(t.Context(), cfg); err != nil {
				t.Fatal(err)
			}
			good := readStoreFile(t, cfg.To, dir+"/app.bz2")

			// Another binary under the same payload name, misbuilt.
			bin := filepath.Join(t.TempDir(), "app")
			writeELF(t, bin, elf.EM_X86_64, 7000)
			if _, err := Add(t.Context(), AddConfig{Repo: src, Binary: bin, Version: "1.0.0", Keys: []crypto.Signer{k}, Force: true}); err != nil {
				t.Fatal(err)
			}
			misbuild(t, src, dir, k)
			cfg.Force = true
			if _, err := Mirror(t.Context(), cfg); !errors.Is(err, ErrUnverified) {
				t.Fatalf("forced mirror of a misbuilt payload: %v, want ErrUnverified", err)
			}
			if !bytes.Equal(readStoreFile(t, cfg.To, dir+"/app.bz2"), good) {
				t.Error("the misbuilt payload replaced the good one")
			}

			empty := MirrorConfig{From: src, To: newRepoSpec(t, kind), Keys: pubs(k), CheckBinary: true}
			if _, err := Mirror(t.Context(), empty); !errors.Is(err, ErrUnverified) {
				t.Fatalf("mirror of a misbuilt payload: %v, want ErrUnverified", err)
			}
			for _, name := range []string{dir + "/app.bz2", dir + "/" + release.FileName} {
				if present(t, empty.To, name) {
					t.Errorf("%s was written", name)
				}
			}
		})
	}
}

// TestMirrorUpdatesMetadata mirrors again after the source's root and
// channel moved on: the newer root.json and channel replace the old ones
// without --force; a channel older than the destination's is refused; and
// a channel pointing at a release this mirror did not copy is refused.
func TestMirrorUpdatesMetadata(t *testing.T) {
	src, c, one := fullRepo(t)
	ctx := t.Context()
	dst := t.TempDir()
	if _, err := Mirror(ctx, MirrorConfig{From: src, To: dst, Root: one}); err != nil {
		t.Fatal(err)
	}
	// A rotation and a refreshed channel in the source.
	if _, err := Rotate(ctx, RotateConfig{Repo: src, Pin: pinFor(src), Expires: inAYear.Add(2 * time.Hour), Keys: []crypto.Signer{c.root}}); err != nil {
		t.Fatal(err)
	}
	refresh := PromoteConfig{Repo: src, Pin: pinFor(src), Channel: "stable", Refresh: true, Expires: inAWeek.Add(time.Hour), Keys: []crypto.Signer{c.channel}}
	if _, err := Promote(ctx, refresh); err != nil {
		t.Fatal(err)
	}
	res, err := Mirror(ctx, MirrorConfig{From: src, To: dst, Root: one})
	if err != nil {
		t.Fatalf("after a rotation and a refresh: %v", err)
	}
	for _, name := range []string{"3.root.json", "root.json", "channels/stable.json"} {
		if !slices.Contains(res.Copied, name) {
			t.Errorf("%s not copied: %+v", name, res.Copied)
		}
	}
	if got, want := files(t, dst), files(t, src); got["root.json"] != want["root.json"] || got["channels/stable.json"] != want["channels/stable.json"] {
		t.Fatal("the destination's root.json or channel is not the source's newer one")
	}

	// The destination's channel moves ahead: the source's, now older, may
	// not replace it.
	refresh.Repo, refresh.Pin = dst, pinFor(dst)
	pinRoot(t, dst, one)
	if _, err := Promote(ctx, refresh); err != nil {
		t.Fatal(err)
	}
	ahead := files(t, dst)["channels/stable.json"]
	if _, err := Mirror(ctx, MirrorConfig{From: src, To: dst, Root: one}); !errors.Is(err, ErrExists) {
		t.Fatalf("an older channel over a newer one: %v, want ErrExists", err)
	}
	if files(t, dst)["channels/stable.json"] != ahead {
		t.Fatal("the older channel replaced the newer one")
	}

	// A channel pointing at a release the source no longer has.
	addRelease(t, src, "2.0.0", elf.EM_X86_64, c.release)
	if _, err := Promote(ctx, PromoteConfig{Repo: src, Pin: pinFor(src), Channel: "beta", Version: "2.0.0", Expires: inAWeek, Keys: []crypto.Signer{c.channel}}); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(src, "2.0.0")); err != nil {
		t.Fatal(err)
	}
	_, err = Mirror(ctx, MirrorConfig{From: src, To: t.TempDir(), Root: one})
	if !errors.Is(err, ErrUnverified) || !strings.Contains(err.Error(), "did not copy") {
		t.Fatalf("a channel pointing at a release not copied: %v, want ErrUnverified", err)
	}
}
