package apply_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
)

// A mirror holds validly signed releases of other versions and platforms
// and serves one of them, release.json and payload together, where
// 2.0.0/linux/amd64 was asked for.
func TestRejectsMaliciousMirror(t *testing.T) {
	tests := []struct {
		name, version, goos, goarch string
		more                        []apply.Option
	}{
		{"older version", "1.0.0", "linux", "amd64", []apply.Option{apply.CurrentVersion("1.5.0")}},
		{"newer version", "3.0.0", "linux", "amd64", nil},
		{"other os", "2.0.0", "darwin", "amd64", nil},
		{"other arch", "2.0.0", "linux", "arm64", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			mirror := newRepo(t)
			mirror.publish(t, tt.version, tt.goos, tt.goarch, binary("mirror "+tt.name, 30000), f.key)
			from := "/2.0.0/linux/amd64/"
			to := "/" + tt.version + "/" + tt.goos + "/" + tt.goarch + "/"
			for _, name := range []string{release.FileName, "app.bz2"} {
				mirror.handle(from+name, func(w http.ResponseWriter, r *http.Request) {
					http.ServeFile(w, r, mirror.dir+to+name)
				})
			}
			before := listDir(t, f.dir)
			err := apply.Apply(t.Context(), f.optsFrom(apply.SourceRepo(mirror.url()), tt.more...)...)
			wantRefused(t, f, before, err, apply.ErrMetadata)
			if n := mirror.count("app.bz2"); n != 0 {
				t.Errorf("the mirror's payload was requested %d times", n)
			}
		})
	}
	t.Run("honest mirror", func(t *testing.T) {
		f := newFixture(t)
		mirror := serveLoopback(t, http.FileServer(http.Dir(f.repo.dir)))
		if err := apply.Apply(t.Context(), f.optsFrom(apply.SourceRepo(mirror.URL))...); err != nil {
			t.Fatal(err)
		}
		wantFile(t, f.target, f.bin)
	})
}

// The repository holds more than the signed release names; only
// release.json and the signed payload are ever requested.
func TestRejectsExtraneousPayload(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{"2.0.0/linux/amd64/app", "2.0.0/linux/amd64/extra.bz2", "2.0.0/linux/amd64/app.bz2.sig",
		"2.0.0/linux/amd64/install.sh", "root.json", "index.html"} {
		f.repo.writeFile(t, name, []byte("never to be read"))
	}
	want := []string{"/2.0.0/linux/amd64/release.json", "/2.0.0/linux/amd64/app.bz2"}
	if _, err := apply.Check(t.Context(), f.opts()...); err != nil {
		t.Fatal(err)
	}
	if got := f.repo.requestLog(); !slices.Equal(got, want[:1]) {
		t.Errorf("Check requested %v, want %v", got, want[:1])
	}
	if err := apply.Apply(t.Context(), f.opts()...); err != nil {
		t.Fatal(err)
	}
	if got := f.repo.requestLog(); !slices.Equal(got, append(want[:1:1], want...)) {
		t.Errorf("Check then Apply requested %v, want %v then %v", got, want[:1], want)
	}
	wantFile(t, f.target, f.bin)
}

// requestLog returns the paths requested so far, in order.
func (r *repo) requestLog() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// Two keys are pinned with threshold 2 and the attacker holds one of them.
func TestRejectsKeyCompromise(t *testing.T) {
	f := newFixture(t)
	stolen, attackers := newKey(t), newKey(t)
	evil := binary("evil", 30000)
	tests := []struct {
		name    string
		signers []testKey
		dup     bool // the stolen key's signature twice
	}{
		{"stolen key alone", []testKey{stolen}, false},
		{"stolen key twice", []testKey{stolen}, true},
		{"stolen key and an unpinned key", []testKey{stolen, attackers}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rel := f.repo.publish(t, "2.0.0", "linux", "amd64", evil, tt.signers...)
			if tt.dup {
				rel.Signatures = append(rel.Signatures, rel.Signatures...)
				f.repo.writeFile(t, "2.0.0/linux/amd64/release.json", rawJSON(t, rel))
			}
			before := listDir(t, f.dir)
			payloads := f.repo.count("app.bz2")
			err := apply.Apply(t.Context(), f.opts(apply.PublicKey(stolen.pub), apply.Threshold(2))...)
			wantRefused(t, f, before, err, apply.ErrSignature)
			if n := f.repo.count("app.bz2") - payloads; n != 0 {
				t.Errorf("payload requested %d times", n)
			}
		})
	}
	t.Run("both pinned keys", func(t *testing.T) {
		f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin, f.key, stolen)
		if err := apply.Apply(t.Context(), f.opts(apply.PublicKey(stolen.pub), apply.Threshold(2))...); err != nil {
			t.Fatal(err)
		}
		wantFile(t, f.target, f.bin)
	})
}

// A release validly signed for linux/arm64 is served for linux/amd64:
// its release.json is refused, and its payload under the amd64
// release.json fails the signed hash.
func TestRejectsWrongSoftwareInstallation(t *testing.T) {
	f := newFixture(t)
	other := newRepo(t)
	arm := other.publish(t, "2.0.0", "linux", "arm64", binary("2.0.0 for arm64", 50000), f.key)
	armJSON, err := arm.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	armPayload := readRepoFile(t, &fixture{repo: other}, "2.0.0/linux/arm64/app.bz2")
	amdJSON := readRepoFile(t, f, "2.0.0/linux/amd64/release.json")

	f.repo.writeFile(t, "2.0.0/linux/amd64/release.json", armJSON)
	f.repo.writeFile(t, "2.0.0/linux/amd64/app.bz2", armPayload)
	before := listDir(t, f.dir)
	err = apply.Apply(t.Context(), f.opts()...)
	wantRefused(t, f, before, err, apply.ErrMetadata)
	if n := f.repo.count("app.bz2"); n != 0 {
		t.Errorf("payload requested %d times", n)
	}

	f.repo.writeFile(t, "2.0.0/linux/amd64/release.json", amdJSON)
	err = apply.Apply(t.Context(), f.opts()...)
	wantRefused(t, f, before, err, apply.ErrChecksum)
}

// release.json documents that a lax JSON parser would read as the signed
// release: duplicate members (the signed value first, another after) and
// numbers in other forms than canonical JSON's.
func TestRejectsNonCanonicalReleaseJSON(t *testing.T) {
	f := newFixture(t)
	signed := string(readRepoFile(t, f, "2.0.0/linux/amd64/release.json"))
	size := `"size": ` + jsonInt(f.rel.Size)
	if !strings.Contains(signed, size) {
		t.Fatalf("release.json does not hold %s:\n%s", size, signed)
	}
	tests := map[string]string{
		"duplicate version":     strings.Replace(signed, `"version": "2.0.0"`, `"version": "2.0.0", "version": "9.9.9"`, 1),
		"duplicate, same value": strings.Replace(signed, `"version": "2.0.0"`, `"version": "2.0.0", "version": "2.0.0"`, 1),
		"duplicate binary":      strings.Replace(signed, `"binary": "app.bz2"`, `"binary": "app.bz2", "binary": "../x.bz2"`, 1),
		"duplicate signatures":  strings.Replace(signed, `"signatures": [`, `"signatures": [], "signatures": [`, 1),
		"size with a fraction":  strings.Replace(signed, size, size+".0", 1),
		"size with an exponent": strings.Replace(signed, size, `"size": 5e4`, 1),
		"size with a zero":      strings.Replace(signed, size, `"size": 0`+jsonInt(f.rel.Size), 1),
		"size with a sign":      strings.Replace(signed, size, `"size": +`+jsonInt(f.rel.Size), 1),
	}
	for name, doc := range tests {
		t.Run(name, func(t *testing.T) {
			if doc == signed {
				t.Fatal("the replacement did not apply")
			}
			f.repo.writeFile(t, "2.0.0/linux/amd64/release.json", []byte(doc))
			before := listDir(t, f.dir)
			payloads := f.repo.count("app.bz2")
			err := apply.Apply(t.Context(), f.opts()...)
			wantRefused(t, f, before, err, apply.ErrMetadata)
			if n := f.repo.count("app.bz2") - payloads; n != 0 {
				t.Errorf("payload requested %d times", n)
			}
		})
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// Signatures by the pinned key, but over other bytes than this release's
// canonical signing bytes.
func TestRejectsRightKeyOverOtherBytes(t *testing.T) {
	f := newFixture(t)
	signer, err := keys.NewSigner(f.key.priv)
	if err != nil {
		t.Fatal(err)
	}
	sigOver := func(msg []byte) release.Signature {
		sig, err := keys.Sign(signer, msg)
		if err != nil {
			t.Fatal(err)
		}
		return release.Signature{KeyID: f.rel.Signatures[0].KeyID, Sig: hex.EncodeToString(sig)}
	}
	unsigned := *f.rel
	unsigned.Signatures = nil
	canonical, err := unsigned.SigningBytes()
	if err != nil {
		t.Fatal(err)
	}
	asServed, err := unsigned.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	older := f.repo.publish(t, "1.9.0", "linux", "amd64", f.bin, f.key)
	tests := map[string]release.Signature{
		"another release's signature":       older.Signatures[0],
		"the file as served, not canonical": sigOver(asServed),
		"canonical bytes plus a newline":    sigOver(append(bytes.Clone(canonical), '\n')),
		"canonical bytes of another size": func() release.Signature {
			r := unsigned
			r.Size++
			b, err := r.SigningBytes()
			if err != nil {
				t.Fatal(err)
			}
			return sigOver(b)
		}(),
	}
	for name, sig := range tests {
		t.Run(name, func(t *testing.T) {
			rel := unsigned
			rel.Signatures = []release.Signature{sig}
			f.repo.writeFile(t, "2.0.0/linux/amd64/release.json", rawJSON(t, &rel))
			before := listDir(t, f.dir)
			payloads := f.repo.count("app.bz2")
			err := apply.Apply(t.Context(), f.opts()...)
			wantRefused(t, f, before, err, apply.ErrSignature)
			if n := f.repo.count("app.bz2") - payloads; n != 0 {
				t.Errorf("payload requested %d times", n)
			}
		})
	}
	// The same signature over the right bytes is accepted.
	rel := unsigned
	rel.Signatures = []release.Signature{sigOver(canonical)}
	f.repo.writeFile(t, "2.0.0/linux/amd64/release.json", rawJSON(t, &rel))
	if err := apply.Apply(t.Context(), f.opts()...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)
}

// The payload trickles in, never pausing long enough for the stall
// watchdog: the minimum average rate stops it, with no ctx deadline.
func TestRejectsSlowRetrieval(t *testing.T) {
	for _, tt := range []struct {
		name string
		more []apply.Option
	}{
		{"default rate", nil},
		{"MinimumRate", []apply.Option{apply.MinimumRate(20 << 10)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			z := readRepoFile(t, f, "2.0.0/linux/amd64/app.bz2")
			gone := make(chan struct{}, 1)
			f.repo.handle("/2.0.0/linux/amd64/app.bz2", func(w http.ResponseWriter, r *http.Request) {
				defer func() { gone <- struct{}{} }()
				w.Header().Set("Content-Length", strconv.Itoa(len(z)))
				for i := 0; i < len(z); i += 64 { // 1280 bytes/s
					if _, err := w.Write(z[i:min(len(z), i+64)]); err != nil {
						return
					}
					http.NewResponseController(w).Flush()
					select {
					case <-r.Context().Done():
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
			})
			before := listDir(t, f.dir)
			start := time.Now()
			err := apply.Apply(context.Background(), f.opts(append(tt.more, apply.StallTimeout(time.Second))...)...)
			took := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "slow retrieval") {
				t.Errorf("got %v, want a slow-retrieval error", err)
			}
			full := time.Duration(len(z)/64) * 50 * time.Millisecond
			if took > full/2 {
				t.Errorf("Apply gave up after %v; the whole trickle takes %v", took, full)
			}
			t.Logf("%d-byte payload at 1280 bytes/s: refused after %v (the whole trickle takes %v)", len(z), took.Round(time.Millisecond), full)
			waitGone(t, gone)
			sameDir(t, f.dir, before)
		})
	}
}
