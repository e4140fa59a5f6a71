package apply_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/release"
)

// wantRefused fails unless err wraps want and the fixture's target
// directory is as before (target intact, no temporary or backup file).
func wantRefused(t *testing.T, f *fixture, before map[string]string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("got %v, want %v", err, want)
	}
	if err != nil && !strings.HasPrefix(err.Error(), "apply: ") {
		t.Errorf("error %q lacks the apply: prefix", err)
	}
	sameDir(t, f.dir, before)
}

func TestRejectsUnverifiedReleaseBeforePayload(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, f *fixture) []apply.Option // extra options
	}{
		{"tampered", func(t *testing.T, f *fixture) []apply.Option {
			path := "2.0.0/linux/amd64/release.json"
			var obj map[string]any
			if err := json.Unmarshal(readRepoFile(t, f, path), &obj); err != nil {
				t.Fatal(err)
			}
			obj["size"] = f.rel.Size + 1
			b, _ := json.Marshal(obj)
			f.repo.writeFile(t, path, b)
			return nil
		}},
		{"unsigned", func(t *testing.T, f *fixture) []apply.Option {
			f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin)
			return nil
		}},
		{"unknown key", func(t *testing.T, f *fixture) []apply.Option {
			f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin, newKey(t))
			return nil
		}},
		{"below threshold", func(t *testing.T, f *fixture) []apply.Option {
			return []apply.Option{apply.PublicKey(newKey(t).pub), apply.Threshold(2)}
		}},
		{"same key twice toward threshold", func(t *testing.T, f *fixture) []apply.Option {
			rel := *f.rel
			rel.Signatures = append(rel.Signatures, f.rel.Signatures...)
			f.repo.writeFile(t, "2.0.0/linux/amd64/release.json", rawJSON(t, &rel))
			return []apply.Option{apply.PublicKey(newKey(t).pub), apply.Threshold(2)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			extra := tt.mutate(t, f)
			before := listDir(t, f.dir)
			err := apply.Apply(t.Context(), f.opts(extra...)...)
			wantRefused(t, f, before, err, apply.ErrSignature)
			if n := f.repo.count("app.bz2"); n != 0 {
				t.Errorf("payload requested %d times before the signature was verified", n)
			}
			if _, err := apply.Check(t.Context(), f.opts(extra...)...); !errors.Is(err, apply.ErrSignature) {
				t.Errorf("Check: got %v, want ErrSignature", err)
			}
		})
	}
}

func readRepoFile(t *testing.T, f *fixture, path string) []byte {
	t.Helper()
	s := mustDirSource(t, f.repo.dir)
	rc, err := s.Open(t.Context(), path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRejectsTamperedPayload(t *testing.T) {
	tests := []struct {
		name    string
		payload func(t *testing.T, f *fixture) []byte
	}{
		{"other binary", func(t *testing.T, f *fixture) []byte {
			// Smaller, so that it is not also longer than signed.
			z, err := bzip2Data(t, binary("6.6.6", len(f.bin)/4), "-9")
			if err != nil {
				t.Fatal(err)
			}
			return z
		}},
		{"flipped byte", func(t *testing.T, f *fixture) []byte {
			z := bytes.Clone(readRepoFile(t, f, "2.0.0/linux/amd64/app.bz2"))
			z[len(z)/2] ^= 1
			return z
		}},
		{"not bzip2", func(t *testing.T, f *fixture) []byte { return bytes.Repeat([]byte{'x'}, int(f.rel.CompressedSize)) }},
		{"short", func(t *testing.T, f *fixture) []byte {
			return readRepoFile(t, f, "2.0.0/linux/amd64/app.bz2")[:f.rel.CompressedSize/2]
		}},
		{"empty", func(t *testing.T, f *fixture) []byte { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.repo.writeFile(t, "2.0.0/linux/amd64/app.bz2", tt.payload(t, f))
			before := listDir(t, f.dir)
			err := apply.Apply(t.Context(), f.opts()...)
			wantRefused(t, f, before, err, apply.ErrChecksum)
		})
	}
}

func TestRejectsEndlessPayload(t *testing.T) {
	f := newFixture(t)
	z := readRepoFile(t, f, "2.0.0/linux/amd64/app.bz2")
	var sent atomic.Int64
	done := make(chan error, 1)
	f.repo.handle("/2.0.0/linux/amd64/app.bz2", func(w http.ResponseWriter, r *http.Request) {
		done <- writeForever(w, z, &sent)
	})
	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.opts()...)
	wantRefused(t, f, before, err, apply.ErrTooLarge)
	select {
	case werr := <-done:
		t.Logf("server sent %d bytes before the client hung up: %v", sent.Load(), werr)
	case <-time.After(10 * time.Second):
		t.Fatal("the client kept the endless download open")
	}

	// Exactly one byte past the signed size is read, whatever follows.
	src := &endlessSource{Source: mustDirSource(t, f.repo.dir), prefix: z}
	err = apply.Apply(t.Context(), f.optsFrom(apply.WithSource(src))...)
	wantRefused(t, f, before, err, apply.ErrTooLarge)
	if got, want := src.read.Load(), f.rel.CompressedSize+1; got != want {
		t.Errorf("read %d payload bytes, want exactly %d", got, want)
	}
}

// writeForever writes prefix and then zeros until the client stops reading.
func writeForever(w http.ResponseWriter, prefix []byte, sent *atomic.Int64) error {
	w.Header().Set("Content-Type", "application/octet-stream")
	n, err := w.Write(prefix)
	sent.Add(int64(n))
	chunk := make([]byte, 32<<10)
	for err == nil {
		n, err = w.Write(chunk)
		sent.Add(int64(n))
	}
	return err
}

// endlessSource serves its Source's files, but the payload is prefix
// followed by bytes without end, and it counts what the client read of it.
type endlessSource struct {
	apply.Source
	prefix []byte
	read   atomic.Int64
}

func (s *endlessSource) Open(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	if !strings.HasSuffix(path, ".bz2") {
		return s.Source.Open(ctx, path, offset)
	}
	r := io.MultiReader(bytes.NewReader(s.prefix), zeros{})
	return io.NopCloser(&countingReader{r: r, n: &s.read}), nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func TestRejectsDecompressionBomb(t *testing.T) {
	f := newFixture(t)
	// 64 MiB of zeros compress to a few dozen bytes; the release claims a
	// small size, and is validly signed for exactly these compressed bytes.
	bomb, err := bzip2Data(t, make([]byte, 64<<20), "-9")
	if err != nil {
		t.Fatal(err)
	}
	rel := &release.Release{Binary: "app.bz2", Hash: f.rel.Hash, Size: 4096, Version: "2.0.0", OS: "linux", Arch: "amd64",
		CompressedHash: hexSHA256(bomb), CompressedSize: int64(len(bomb))}
	if err := signRelease(rel, f.key); err != nil {
		t.Fatal(err)
	}
	f.repo.writeFile(t, "2.0.0/linux/amd64/app.bz2", bomb)
	f.repo.writeFile(t, "2.0.0/linux/amd64/release.json", rawJSON(t, rel))
	var written int64
	before := listDir(t, f.dir)
	err = apply.Apply(t.Context(), f.opts(apply.Progress(func(done, _ int64) { written = done }))...)
	wantRefused(t, f, before, err, apply.ErrTooLarge)
	if written > 4097 {
		t.Errorf("wrote %d bytes of a release signed as 4096", written)
	}
}

func TestRejectsOversizedReleaseJSON(t *testing.T) {
	f := newFixture(t)
	var sent atomic.Int64
	done := make(chan error, 1)
	f.repo.handle("/2.0.0/linux/amd64/release.json", func(w http.ResponseWriter, r *http.Request) {
		done <- writeForever(w, []byte(`{"binary": "app.bz2", "x": "`), &sent)
	})
	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.opts()...)
	wantRefused(t, f, before, err, apply.ErrTooLarge)
	select {
	case werr := <-done:
		if werr == nil {
			t.Error("the server finished writing an endless body")
		}
		t.Logf("server wrote %d bytes (limit %d) before the client hung up", sent.Load(), limits.ReleaseJSON)
	case <-time.After(10 * time.Second):
		t.Fatal("the client kept reading the endless release.json")
	}
	if n := f.repo.count("app.bz2"); n != 0 {
		t.Errorf("payload requested %d times", n)
	}
}

func TestRejectsMixAndMatch(t *testing.T) {
	tests := []struct{ name, version, goos, goarch string }{
		{"other version", "1.9.0", "linux", "amd64"},
		{"other os", "2.0.0", "windows", "amd64"},
		{"other arch", "2.0.0", "linux", "arm64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			other := newRepo(t)
			rel := other.publish(t, tt.version, tt.goos, tt.goarch, binary("evil", 3000), f.key)
			data, err := rel.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			// A mirror serves that validly signed release at 2.0.0/linux/amd64.
			f.repo.writeFile(t, "2.0.0/linux/amd64/release.json", data)
			before := listDir(t, f.dir)
			err = apply.Apply(t.Context(), f.opts()...)
			wantRefused(t, f, before, err, apply.ErrMetadata)
			if n := f.repo.count("app.bz2"); n != 0 {
				t.Errorf("payload requested %d times", n)
			}
		})
	}
}

func TestRejectsPathInBinary(t *testing.T) {
	for _, name := range []string{"../app.bz2", "../../../1.0.0/linux/amd64/app.bz2", "sub/app.bz2", "/etc/passwd",
		`..\app.bz2`, "https://127.0.0.1:1/app.bz2", "app.bz2?x=1", "%2e%2e%2fapp.bz2", "release.json"} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			rel := *f.rel
			rel.Binary, rel.Signatures = name, nil
			if err := signRelease(&rel, f.key); err != nil {
				t.Fatal(err)
			}
			f.repo.writeFile(t, "2.0.0/linux/amd64/release.json", rawJSON(t, &rel))
			before := listDir(t, f.dir)
			err := apply.Apply(t.Context(), f.opts()...)
			wantRefused(t, f, before, err, apply.ErrMetadata)
			if n := f.repo.count("release.json"); f.repo.count("") != n {
				t.Errorf("requests beyond release.json were made")
			}
		})
	}
}

func TestRejectsDowngrade(t *testing.T) {
	f := newFixture(t)
	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.opts(apply.CurrentVersion("2.0.1"))...)
	wantRefused(t, f, before, err, apply.ErrDowngrade)
	if _, err := apply.Check(t.Context(), f.opts(apply.CurrentVersion("v10.0.0"))...); !errors.Is(err, apply.ErrDowngrade) {
		t.Errorf("Check: got %v, want ErrDowngrade", err)
	}
	if n := f.repo.count(""); n != 0 {
		t.Errorf("%d requests made for a version known to be older", n)
	}
	// A pre-release of the installed version is older too.
	if err := apply.Apply(t.Context(), f.opts(apply.CurrentVersion("2.0.0"), apply.Version("2.0.0-rc.1"))...); !errors.Is(err, apply.ErrDowngrade) {
		t.Errorf("pre-release: got %v, want ErrDowngrade", err)
	}
}

func TestRejectsOversizedSizeField(t *testing.T) {
	f := newFixture(t)
	rel := *f.rel
	rel.Size, rel.Signatures = limits.BinarySize+1, nil
	if err := signRelease(&rel, f.key); err != nil {
		t.Fatal(err)
	}
	f.repo.writeFile(t, "2.0.0/linux/amd64/release.json", rawJSON(t, &rel))
	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.opts()...)
	wantRefused(t, f, before, err, apply.ErrMetadata)
	if !strings.Contains(err.Error(), strconv.Itoa(limits.BinarySize)) {
		t.Errorf("error %q does not state the limit", err)
	}
}
