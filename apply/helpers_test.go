package apply_test

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/internal/pbzip2"
	"github.com/safeupdate/safeupdate/internal/testprog"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
)

// testKey is a real signing key and its PEM public key.
type testKey struct {
	priv crypto.Signer
	pub  []byte
}

func newKey(t testing.TB) testKey {
	t.Helper()
	k, err := generateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func generateKey() (testKey, error) {
	priv, err := keys.Generate(keys.Ed25519)
	if err != nil {
		return testKey{}, err
	}
	pub, err := keys.MarshalPublic(priv.Public())
	return testKey{priv: priv, pub: pub}, err
}

// bzip2Data compresses data with the real bzip2 program, for the tests
// that check what the client makes of its output.
func bzip2Data(t testing.TB, data []byte, level string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(testprog.Path(t, "bzip2"), "-c", level)
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("bzip2: %v: %s", err, stderr.Bytes())
	}
	return out, nil
}

// compressBzip2 compresses data as repotool add does (internal/pbzip2),
// so that fixtures need no program the machine may lack.
func compressBzip2(data []byte) ([]byte, error) {
	var b bytes.Buffer
	w, err := pbzip2.NewWriter(&b)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func hexSHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// signRelease adds a real signature by each key.
func signRelease(rel *release.Release, signers ...testKey) error {
	for _, k := range signers {
		s, err := keys.NewSigner(k.priv)
		if err != nil {
			return err
		}
		if _, err := rel.Sign(s); err != nil {
			return err
		}
	}
	return nil
}

// publishTo writes a release of bin into the repository in dir: the bzip2
// payload and a release.json signed by signers.
func publishTo(dir, version, goos, goarch string, bin []byte, signers ...testKey) (*release.Release, error) {
	z, err := compressBzip2(bin)
	if err != nil {
		return nil, err
	}
	rel := &release.Release{
		Binary: "app.bz2", Hash: hexSHA256(bin), Size: int64(len(bin)),
		Version: version, OS: goos, Arch: goarch,
		CompressedHash: hexSHA256(z), CompressedSize: int64(len(z)),
	}
	if err := signRelease(rel, signers...); err != nil {
		return nil, err
	}
	data, err := rel.Marshal()
	if err != nil {
		return nil, err
	}
	rdir := filepath.Join(dir, version, goos, goarch)
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(rdir, "app.bz2"), z, 0o644); err != nil {
		return nil, err
	}
	return rel, os.WriteFile(filepath.Join(rdir, release.FileName), data, 0o644)
}

// rawJSON encodes rel as release.json without validating it, to serve
// documents that release.Marshal refuses to write.
func rawJSON(t testing.TB, rel *release.Release) []byte {
	t.Helper()
	obj := map[string]any{
		"binary": rel.Binary, "hash": rel.Hash, "size": rel.Size,
		"version": rel.Version, "os": rel.OS, "arch": rel.Arch,
		"compressed_hash": rel.CompressedHash, "compressed_size": rel.CompressedSize,
		"signatures": rel.Signatures,
	}
	if rel.Signatures == nil {
		obj["signatures"] = []any{}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// repo is a repository in a temporary directory served over HTTP on
// 127.0.0.1, counting requests. Paths can be given custom handlers.
type repo struct {
	dir string
	srv *httptest.Server

	mu       sync.Mutex
	requests []string
	sent     map[string]int64 // body bytes written, by path
	handlers map[string]http.HandlerFunc
}

func newRepo(t testing.TB) *repo {
	t.Helper()
	r := &repo{dir: t.TempDir(), handlers: make(map[string]http.HandlerFunc), sent: make(map[string]int64)}
	r.srv = serveLoopback(t, http.HandlerFunc(r.serveHTTP))
	return r
}

// serveLoopback starts h on 127.0.0.1, never on another address.
func serveLoopback(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := loopbackServer(t, h)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// serveLoopbackTLS is serveLoopback with HTTPS; srv.Client() trusts it.
func serveLoopbackTLS(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := loopbackServer(t, h)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func loopbackServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	return srv
}

func (r *repo) serveHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests = append(r.requests, req.URL.Path)
	h := r.handlers[req.URL.Path]
	r.mu.Unlock()
	w = &countingWriter{ResponseWriter: w, r: r, path: req.URL.Path}
	if h != nil {
		h(w, req)
		return
	}
	http.FileServer(http.Dir(r.dir)).ServeHTTP(w, req)
}

func (r *repo) url() string { return r.srv.URL }

// countingWriter adds the body bytes written to r.sent.
type countingWriter struct {
	http.ResponseWriter
	r    *repo
	path string
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.r.mu.Lock()
	w.r.sent[w.path] += int64(n)
	w.r.mu.Unlock()
	return n, err
}

// ReadFrom keeps the server's sendfile path, as without the count.
func (w *countingWriter) ReadFrom(src io.Reader) (int64, error) {
	n, err := io.Copy(w.ResponseWriter, src)
	w.r.mu.Lock()
	w.r.sent[w.path] += n
	w.r.mu.Unlock()
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bytesSent returns the body bytes sent for paths with this suffix.
func (r *repo) bytesSent(suffix string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for p, b := range r.sent {
		if strings.HasSuffix(p, suffix) {
			n += b
		}
	}
	return n
}

// handle serves path (with a leading slash) with h instead of the file.
func (r *repo) handle(path string, h http.HandlerFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handlers[path] = h
}

// count returns how many requests were made for paths with this suffix.
func (r *repo) count(suffix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.requests {
		if strings.HasSuffix(p, suffix) {
			n++
		}
	}
	return n
}

func (r *repo) publish(t testing.TB, version, goos, goarch string, bin []byte, signers ...testKey) *release.Release {
	t.Helper()
	rel, err := publishTo(r.dir, version, goos, goarch, bin, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// writeFile replaces a file of the repository.
func (r *repo) writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	p := filepath.Join(r.dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fixture is the usual setup: one key, version 1.0.0 installed at target,
// version 2.0.0 published for linux/amd64.
type fixture struct {
	repo   *repo
	key    testKey
	dir    string // the target's directory
	target string
	old    []byte // the installed binary
	bin    []byte // the published 2.0.0 binary
	rel    *release.Release
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{repo: newRepo(t), key: newKey(t), dir: t.TempDir()}
	f.old = binary("1.0.0", 20000)
	f.bin = binary("2.0.0", 50000)
	f.target = filepath.Join(f.dir, "app")
	if err := os.WriteFile(f.target, f.old, 0o755); err != nil {
		t.Fatal(err)
	}
	f.rel = f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin, f.key)
	return f
}

// opts are the options to update the fixture's target to 2.0.0 from its
// HTTP repository, plus more.
func (f *fixture) opts(more ...apply.Option) []apply.Option {
	return f.optsFrom(apply.SourceRepo(f.repo.url()), more...)
}

// optsFrom is opts with another repository option.
func (f *fixture) optsFrom(source apply.Option, more ...apply.Option) []apply.Option {
	return append([]apply.Option{
		source,
		apply.Version("2.0.0"),
		apply.OS("linux"), apply.Arch("amd64"),
		apply.PublicKey(f.key.pub),
		apply.TargetFile(f.target),
		apply.StallTimeout(5 * time.Second),
	}, more...)
}

// binary returns distinct, somewhat compressible bytes standing in for an
// executable of a version.
func binary(version string, n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "#!/bin/sh\necho %s\nexit 0\n", version)
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%s %d %x\n", version, i, sha256.Sum256([]byte(fmt.Sprint(version, i))))
	}
	return b.Bytes()[:n]
}

// listDir returns the names in dir with the sha256 of each regular file's
// bytes and its mode, and how symbolic links point.
func listDir(t testing.TB, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]string)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			dest, _ := os.Readlink(p)
			m[e.Name()] = "symlink to " + dest
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			m[e.Name()] = fmt.Sprintf("%v %s", fi.Mode(), hexSHA256(b)[:16])
		default:
			m[e.Name()] = fi.Mode().String()
		}
	}
	return m
}

// sameDir fails unless dir lists as before: nothing changed, nothing added.
func sameDir(t testing.TB, dir string, before map[string]string) {
	t.Helper()
	after := listDir(t, dir)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("%s changed:\nbefore %v\nafter  %v", dir, sortedKeys(before), sortedKeys(after))
	}
}

func sortedKeys(m map[string]string) []string {
	var s []string
	for k, v := range m {
		s = append(s, k+": "+v)
	}
	sort.Strings(s)
	return s
}

// wantFile fails unless the file at path holds want.
func wantFile(t testing.TB, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: %d bytes (sha256 %.16s), want %d bytes (sha256 %.16s)", path, len(got), hexSHA256(got), len(want), hexSHA256(want))
	}
}
