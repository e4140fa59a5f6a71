package apply_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply"
)

func readAll(t *testing.T, s apply.Source, path string, offset int64) ([]byte, error) {
	t.Helper()
	rc, err := s.Open(t.Context(), path, offset)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestHTTPSourceResumes(t *testing.T) {
	data := []byte("0123456789abcdefghij")
	srv := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/repo/ranged":
			http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(data))
		case "/repo/plain":
			w.Write(data)
		case "/repo/wrong":
			w.Header().Set("Content-Range", "bytes 0-19/20")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data)
		}
	}))
	s, err := apply.HTTPSource(srv.URL+"/repo/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(t, s, "ranged", 10); err != nil || string(got) != "abcdefghij" {
		t.Errorf("ranged: got %q, %v", got, err)
	}
	if got, err := readAll(t, s, "ranged", 0); err != nil || string(got) != string(data) {
		t.Errorf("whole: got %q, %v", got, err)
	}
	if _, err := readAll(t, s, "plain", 10); !errors.Is(err, apply.ErrRangeUnsupported) {
		t.Errorf("server ignoring Range: got %v, want ErrRangeUnsupported", err)
	}
	if _, err := readAll(t, s, "wrong", 10); err == nil || !strings.Contains(err.Error(), "Content-Range") {
		t.Errorf("wrong Content-Range: got %v", err)
	}
}

func TestRejectsHTTPSToHTTPRedirect(t *testing.T) {
	var plainHits atomic.Int64
	plain := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainHits.Add(1)
	}))
	tlsSrv := serveLoopbackTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusFound)
	}))
	f := newFixture(t)
	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.optsFrom(apply.SourceRepo(tlsSrv.URL), apply.HTTPClient(tlsSrv.Client()))...)
	if err == nil || !strings.Contains(err.Error(), "changes the scheme") {
		t.Errorf("got %v, want a refused redirect", err)
	}
	if n := plainHits.Load(); n != 0 {
		t.Errorf("the plain HTTP server got %d requests", n)
	}
	sameDir(t, f.dir, before)

	// And the other way round.
	toTLS := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, tlsSrv.URL+r.URL.Path, http.StatusFound)
	}))
	s, err := apply.HTTPSource(toTLS.URL, tlsSrv.Client())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(t, s, "x", 0); err == nil || !strings.Contains(err.Error(), "changes the scheme") {
		t.Errorf("http to https: got %v, want a refused redirect", err)
	}
}

func TestHTTPSourceFollowsSameSchemeRedirect(t *testing.T) {
	f := newFixture(t)
	mirror := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, f.repo.url()+r.URL.Path, http.StatusMovedPermanently)
	}))
	if err := apply.Apply(t.Context(), f.optsFrom(apply.SourceRepo(mirror.URL))...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)
}

func TestHTTPSourceSendsNoCookies(t *testing.T) {
	var cookies atomic.Int64
	srv := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.Cookies()) > 0 {
			cookies.Add(1)
		}
		http.SetCookie(w, &http.Cookie{Name: "track", Value: "me", Path: "/"})
		if r.URL.Path == "/first" {
			http.Redirect(w, r, "/second", http.StatusFound)
		}
	}))
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(srv.URL)
	jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: "secret", Path: "/"}})
	s, err := apply.HTTPSource(srv.URL, &http.Client{Jar: jar})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := readAll(t, s, "first", 0); err != nil {
			t.Fatal(err)
		}
	}
	if n := cookies.Load(); n != 0 {
		t.Errorf("%d requests carried cookies", n)
	}
}

func TestRejectsHugeResponseHeader(t *testing.T) {
	srv := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 64 {
			w.Header().Set("X-Padding-"+string(rune('a'+i%26))+string(rune('a'+i/26)), strings.Repeat("x", 4000))
		}
	}))
	s, err := apply.HTTPSource(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(t, s, "x", 0); err == nil || !strings.Contains(err.Error(), "header") {
		t.Errorf("got %v, want an error about the response header size", err)
	}
}

func TestHTTPSourceRefusesBadBase(t *testing.T) {
	for _, base := range []string{"ftp://127.0.0.1/", "http://", "http://127.0.0.1/?q=1", "file:///tmp", "127.0.0.1/repo"} {
		if _, err := apply.HTTPSource(base, nil); err == nil {
			t.Errorf("HTTPSource(%q) succeeded", base)
		}
	}
}

func TestDirSource(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret")
	mustWrite(t, outside, "secret")
	mustWrite(t, filepath.Join(root, "1.0.0", "f"), "0123456789")
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("1.0.0/f", filepath.Join(root, "inside")); err != nil {
		t.Fatal(err)
	}
	s := mustDirSource(t, root)
	tests := []struct {
		path    string
		offset  int64
		want    string
		wantErr error // sentinel, or errAny
	}{
		{"1.0.0/f", 0, "0123456789", nil},
		{"1.0.0/f", 4, "456789", nil},
		{"inside", 0, "0123456789", nil},
		{"1.0.0/missing", 0, "", apply.ErrNotFound},
		{"1.0.0", 0, "", errAny},
		{"../" + filepath.Base(filepath.Dir(outside)) + "/secret", 0, "", errAny},
		{"escape", 0, "", errAny},
		{"/etc/passwd", 0, "", errAny},
		{"1.0.0/../1.0.0/f", 0, "", errAny},
		{`1.0.0\f`, 0, "", errAny},
		{"1.0.0/f", -1, "", errAny},
	}
	for _, tt := range tests {
		got, err := readAll(t, s, tt.path, tt.offset)
		switch {
		case tt.wantErr == nil && (err != nil || string(got) != tt.want):
			t.Errorf("%s@%d: got %q, %v; want %q", tt.path, tt.offset, got, err, tt.want)
		case tt.wantErr == errAny && err == nil:
			t.Errorf("%s@%d: got %q, want an error", tt.path, tt.offset, got)
		case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
			t.Errorf("%s@%d: got %v, want %v", tt.path, tt.offset, err, tt.wantErr)
		}
	}
	if _, err := apply.DirSource(outside); err == nil {
		t.Error("DirSource accepted a regular file")
	}
}

var errAny = errors.New("any error")

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
