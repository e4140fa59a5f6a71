package blobrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/internal/storetest"
)

// backends are the stores every contract test runs against: a local
// directory and the emulated buckets (see internal/storetest).
var backends = []string{"file", "s3", "gcs", "azure"}

// openStore opens an empty store of the named backend: a new temporary
// directory, or a fresh random key prefix in the emulator's bucket.
func openStore(t *testing.T, name string) *Store {
	t.Helper()
	raw := fileURL(t.TempDir())
	if name != "file" {
		raw = storetest.URL(t, name, "t")
	}
	s, err := Open(t.Context(), raw)
	if err != nil {
		t.Fatalf("Open(%s): %v", raw, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func fileURL(dir string) string {
	return "file:///" + strings.TrimPrefix(filepath.ToSlash(dir), "/")
}

// contract is what every store must do alike.
var contract = []struct {
	name string
	test func(*testing.T, *Store)
}{
	{"PutGetRoundTrip", testRoundTrip},
	{"RangeRead", testRangeRead},
	{"NotFound", testNotFound},
	{"Delete", testDelete},
	{"CreateOnlyRefusesExisting", testCreateOnlyRefusesExisting},
	{"CreateOnlyRefusesExistingLarge", testCreateOnlyLarge},
	{"CreateOnlyRaceHasOneWinner", testCreateOnlyRace},
	{"IfMatch", testIfMatch},
	{"IfMatchRaceHasOneWinner", testIfMatchRace},
	{"List", testList},
	{"RejectsInvalidPaths", testRejectsInvalidPaths},
	{"SurvivesFailingReader", testSurvivesFailingReader},
}

func TestContract(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			if b != "file" {
				storetest.BucketURL(t, b) // skip once, not per case
			}
			t.Parallel()
			for _, c := range contract {
				t.Run(c.name, func(t *testing.T) { c.test(t, openStore(t, b)) })
			}
		})
	}
}

func put(t *testing.T, s *Store, path string, data []byte, opts PutOptions) {
	t.Helper()
	if err := s.Put(t.Context(), path, bytes.NewReader(data), opts); err != nil {
		t.Fatalf("Put(%s): %v", path, err)
	}
}

func get(t *testing.T, s *Store, path string, offset, limit int64) []byte {
	t.Helper()
	r, err := s.Get(t.Context(), path, offset, limit)
	if err != nil {
		t.Fatalf("Get(%s, %d, %d): %v", path, offset, limit, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return data
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func testRoundTrip(t *testing.T, s *Store) {
	data := []byte("release bytes\n")
	put(t, s, "1.0.0/linux/amd64/app.bz2", data, PutOptions{ContentType: "application/x-bzip2"})
	if got := get(t, s, "1.0.0/linux/amd64/app.bz2", 0, -1); !bytes.Equal(got, data) {
		t.Fatalf("Get = %q, want %q", got, data)
	}
	a, err := s.Attributes(t.Context(), "1.0.0/linux/amd64/app.bz2")
	if err != nil {
		t.Fatal(err)
	}
	if a.Size != int64(len(data)) || a.Token == "" {
		t.Fatalf("Attributes = %+v, want size %d and a token", a, len(data))
	}
	// An empty object is an object too.
	put(t, s, "empty", nil, PutOptions{})
	if got := get(t, s, "empty", 0, -1); len(got) != 0 {
		t.Fatalf("empty object read back %d bytes", len(got))
	}
}

func testRangeRead(t *testing.T, s *Store) {
	data := pattern(100_000)
	put(t, s, "payload", data, PutOptions{})
	for _, c := range []struct{ offset, limit int64 }{
		{0, -1}, {1, -1}, {65_537, -1}, {99_999, -1}, {300, 100}, {0, 1}, {99_000, 5_000}, {10, 0},
	} {
		want := data[c.offset:]
		if c.limit >= 0 && c.limit < int64(len(want)) {
			want = want[:c.limit]
		}
		if got := get(t, s, "payload", c.offset, c.limit); !bytes.Equal(got, want) {
			t.Errorf("Get(offset %d, limit %d): %d bytes, want %d", c.offset, c.limit, len(got), len(want))
		}
	}
	// At the end there is nothing to read; past it is an error, on every
	// store alike (the cloud ones answer 416 or not, depending).
	if got := get(t, s, "payload", int64(len(data)), -1); len(got) != 0 {
		t.Errorf("Get at the end read %d bytes", len(got))
	}
	put(t, s, "empty", nil, PutOptions{})
	if got := get(t, s, "empty", 0, 10); len(got) != 0 {
		t.Errorf("Get of an empty object read %d bytes", len(got))
	}
	for _, off := range []int64{int64(len(data)) + 1, 1 << 40} {
		if r, err := s.Get(t.Context(), "payload", off, -1); !errors.Is(err, ErrRange) {
			if r != nil {
				r.Close()
			}
			t.Errorf("Get(offset %d) past the end: error = %v, want ErrRange", off, err)
		}
	}
	if r, err := s.Get(t.Context(), "payload", -1, -1); err == nil {
		r.Close()
		t.Error("Get with a negative offset succeeded")
	}
}

func testNotFound(t *testing.T, s *Store) {
	ctx := t.Context()
	put(t, s, "present", []byte("x"), PutOptions{})
	if r, err := s.Get(ctx, "absent", 0, -1); !errors.Is(err, ErrNotFound) {
		if r != nil {
			r.Close()
		}
		t.Errorf("Get(absent) error = %v, want ErrNotFound", err)
	}
	if _, err := s.Attributes(ctx, "absent"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Attributes(absent) error = %v, want ErrNotFound", err)
	}
	// A "directory" of the key space is not an object.
	if _, err := s.Attributes(ctx, "present/below"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Attributes(present/below) error = %v, want ErrNotFound", err)
	}
	var oe *OpError
	if _, err := s.Attributes(ctx, "absent"); !errors.As(err, &oe) || oe.Path != "absent" || oe.Op != "attributes" {
		t.Errorf("Attributes(absent) error = %#v, want an *OpError naming the path", err)
	}
}

func testDelete(t *testing.T, s *Store) {
	ctx := t.Context()
	put(t, s, "a/doomed", []byte("x"), PutOptions{})
	if err := s.Delete(ctx, "a/doomed"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Attributes(ctx, "a/doomed"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after Delete, Attributes error = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "a/doomed"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete error = %v, want ErrNotFound", err)
	}
}

func testList(t *testing.T, s *Store) {
	for _, p := range []string{"list/a", "list/b/c", "list/b/d", "listing", "other/x"} {
		put(t, s, p, []byte(p), PutOptions{})
	}
	for _, c := range []struct {
		prefix string
		want   string
	}{
		{"", "list/a list/b/c list/b/d listing other/x"},
		{"list/", "list/a list/b/c list/b/d"},
		{"list/b", "list/b/c list/b/d"},
		{"list", "list/a list/b/c list/b/d listing"},
		{"nothing/", ""},
	} {
		var got []string
		err := s.List(t.Context(), c.prefix, func(p string) error { got = append(got, p); return nil })
		if err != nil {
			t.Fatalf("List(%q): %v", c.prefix, err)
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("List(%q) = %q, want %q", c.prefix, got, c.want)
		}
	}
	stop := errors.New("stop here")
	calls := 0
	err := s.List(t.Context(), "", func(string) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("List with a failing callback: %v after %d calls, want the callback's error after 1", err, calls)
	}
	if err := s.List(t.Context(), "../", func(string) error { return nil }); !errors.Is(err, ErrInvalidPath) {
		t.Fatalf(`List("../") error = %v, want ErrInvalidPath`, err)
	}
}

var invalidPaths = []string{
	"", "/abs", "dir/", "a//b", "..", "../up", "a/../b", "a/./b", "./a", `a\b`, ".hidden", "a/.blobrepo-1.tmp",
	"c:/x", "a%2fb", "a?b", "a#b", `a"b`, "a\x00b", "a\nb", "a\u200bb", "bad\xffutf8", "a__0x2f__b",
	strings.Repeat("s", 256), strings.Repeat("d/", 600) + "f",
}

func testRejectsInvalidPaths(t *testing.T, s *Store) {
	ctx := t.Context()
	for _, p := range invalidPaths {
		if err := s.Put(ctx, p, strings.NewReader("x"), PutOptions{}); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("Put(%q) error = %v, want ErrInvalidPath", p, err)
		}
		if r, err := s.Get(ctx, p, 0, -1); !errors.Is(err, ErrInvalidPath) {
			if r != nil {
				r.Close()
			}
			t.Errorf("Get(%q) error = %v, want ErrInvalidPath", p, err)
		}
		if _, err := s.Attributes(ctx, p); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("Attributes(%q) error = %v, want ErrInvalidPath", p, err)
		}
		if err := s.Delete(ctx, p); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("Delete(%q) error = %v, want ErrInvalidPath", p, err)
		}
	}
	err := s.List(ctx, "", func(p string) error { return fmt.Errorf("refused paths left %q behind", p) })
	if err != nil {
		t.Fatal(err)
	}
}

// failingReader yields n bytes, then fails, like a network source dying.
type failingReader struct{ n int }

var errSourceDied = errors.New("source died")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errSourceDied
	}
	k := min(len(p), f.n)
	for i := range k {
		p[i] = 'y'
	}
	f.n -= k
	return k, nil
}

func testSurvivesFailingReader(t *testing.T, s *Store) {
	ctx := t.Context()
	for _, n := range []int{0, 100_000, 9 << 20} {
		path := fmt.Sprintf("partial/%d", n)
		err := s.Put(ctx, path, &failingReader{n: n}, PutOptions{})
		if !errors.Is(err, errSourceDied) {
			t.Fatalf("Put from a reader failing after %d bytes: error = %v, want the reader's", n, err)
		}
		if _, err := s.Attributes(ctx, path); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after a failed Put of %d bytes, Attributes error = %v, want ErrNotFound", n, err)
		}
	}
	// A failed replacement keeps the old object whole.
	put(t, s, "partial/kept", []byte("old"), PutOptions{})
	if err := s.Put(ctx, "partial/kept", &failingReader{n: 5000}, PutOptions{}); !errors.Is(err, errSourceDied) {
		t.Fatalf("failed replacement error = %v, want the reader's", err)
	}
	if got := get(t, s, "partial/kept", 0, -1); string(got) != "old" {
		t.Fatalf("after a failed replacement the object is %q, want %q", got, "old")
	}
}

func TestOpenRefuses(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		url  string
		want error
	}{
		{"ftp://host/repo", ErrUnsupported},
		{"repo", ErrUnsupported},
		{fileURL(missing), ErrNotFound},
		{fileURL(file), nil},
		{"file://relative/dir", nil},
		{fileURL(t.TempDir()) + "?create_dir=true", ErrUnsupported},
		{"s3://bucket/a/../b", ErrInvalidPath},
		{"gs://bucket/.hidden/x", ErrInvalidPath},
		{"azblob:///prefix", nil},
		{"s3://bucket?ssetype=ROT13", nil},
		{"s3://bucket?use_path_style=maybe", nil},
		{"s3://bucket?s3ForcePathStyle=maybe", nil},
		{"s3://bucket?disable_https=maybe", nil},
		{"s3://bucket?accelerate=maybe", nil},
		{"s3://bucket?no_such_parameter=1", nil},
	} {
		s, err := Open(t.Context(), c.url)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", c.url)
			continue
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("Open(%q) error = %v, want %v", c.url, err, c.want)
		}
	}
}

func TestOpenMissingBucket(t *testing.T) {
	for _, b := range backends[1:] {
		t.Run(b, func(t *testing.T) {
			u, err := url.Parse(storetest.BucketURL(t, b))
			if err != nil {
				t.Fatal(err)
			}
			u.Host = "no-such-bucket-" + b
			s, err := Open(t.Context(), u.String())
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) succeeded", u)
			}
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("Open(%s) error = %v, want ErrNotFound", u, err)
			}
		})
	}
}

// A context cancelled before Put must not write: the bucket drivers abort
// the upload, file:// stops before the rename.
func TestSurvivesCancelledPut(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			s := openStore(t, b)
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if err := s.Put(ctx, "cancelled", bytes.NewReader(pattern(1000)), PutOptions{}); err == nil {
				t.Fatal("Put with a cancelled context succeeded")
			}
			if _, err := s.Attributes(t.Context(), "cancelled"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("after a cancelled Put, Attributes error = %v, want ErrNotFound", err)
			}
		})
	}
}
