package repotool

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const serveReleasePath = "/0.7.0/linux/amd64/release.json"

// startCachingHandler serves repo with a handler whose files count as
// settled after settle and are rechecked on disk after recheck, and returns
// the handler and the base URL.
func startCachingHandler(t *testing.T, repo string, settle, recheck time.Duration) (*repoHandler, string) {
	t.Helper()
	if !serveCacheSupported {
		t.Skipf("no small-file cache on %s: only Linux, macOS, FreeBSD and NetBSD have one (serve_stat_unix.go)", runtime.GOOS)
	}
	h, err := newRepoHandler(repo, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.settle, h.recheck = settle, recheck
	base, _ := startHandlerServer(t, h)
	return h, base
}

// serveCached fetches p twice and checks that the second answer came from
// the cache with the expected body.
func serveCached(t *testing.T, h *repoHandler, base, p, want string) {
	t.Helper()
	for i := range 2 {
		hits := h.cache.hits.Load()
		resp, body := serveGet(t, serveClient(), "GET", base+p, nil)
		if resp.StatusCode != 200 || body != want {
			t.Fatalf("GET %s: status %d, body %q; want 200 %q", p, resp.StatusCode, body, want)
		}
		if i == 1 && h.cache.hits.Load() != hits+1 {
			t.Fatalf("GET %s: second request not served from the cache", p)
		}
	}
}

// serveReplace atomically replaces name with a file holding data.
func serveReplace(t *testing.T, name, data string) {
	t.Helper()
	serveWriteFile(t, name+".tmp", data)
	if err := os.Rename(name+".tmp", name); err != nil {
		t.Fatal(err)
	}
}

// A cached file changed on disk is served fresh once the recheck bound has
// passed, whether it is replaced by a rename (a new inode) or rewritten in
// place to the same size (only its times change); until then its previous
// bytes are.
func TestServeCacheServesChangesAfterRecheck(t *testing.T) {
	repo, _ := serveTestRepo(t)
	name := filepath.Join(repo, filepath.FromSlash(serveReleasePath))
	url := serveReleasePath
	// The real bounds.
	time.Sleep(serveCacheSettle + 100*time.Millisecond)
	h, base := startCachingHandler(t, repo, serveCacheSettle, serveCacheRecheck)
	serveCached(t, h, base, url, `{"version":"0.7.0"}`)

	serveReplace(t, name, `{"version":"0.8.0","x":1}`)
	if _, body := serveGet(t, serveClient(), "GET", base+url, nil); body != `{"version":"0.7.0"}` {
		t.Fatalf("within the recheck bound: got %q, want the cached bytes", body)
	}
	time.Sleep(serveCacheRecheck + 50*time.Millisecond)
	// Settled by now, so cached again.
	serveCached(t, h, base, url, `{"version":"0.8.0","x":1}`)

	// Rewritten in place to the same size: only the times tell.
	serveWriteFile(t, name, `{"version":"0.8.0","x":2}`)
	time.Sleep(serveCacheRecheck + 50*time.Millisecond)
	if _, body := serveGet(t, serveClient(), "GET", base+url, nil); body != `{"version":"0.8.0","x":2}` {
		t.Fatalf("after in-place rewrite and recheck: got %q", body)
	}
}

// A file changed less than serveCacheSettle ago is not cached but read
// from disk on every request, so that two writes of the same size within
// one clock tick, which leave the same stat(2) result, cannot be confused.
func TestServeCacheSkipsUnsettledFiles(t *testing.T) {
	repo, _ := serveTestRepo(t)
	name := filepath.Join(repo, filepath.FromSlash(serveReleasePath))
	h, base := startCachingHandler(t, repo, serveCacheSettle, time.Hour)
	for _, v := range []string{"1", "2", "3"} {
		want := `{"version":"0.7.` + v + `"}`
		serveWriteFile(t, name, want)
		if _, body := serveGet(t, serveClient(), "GET", base+serveReleasePath, nil); body != want {
			t.Fatalf("got %q, want %q", body, want)
		}
	}
	if n, _ := h.cache.size(); n != 0 {
		t.Errorf("a file changed less than %v ago was cached", serveCacheSettle)
	}
}

// A cached file swapped for a symbolic link that leads outside the
// repository, or to a hidden file or a key inside it, is refused once
// rechecked, and its cached bytes are dropped; until then the previous,
// vetted bytes are served, never the link's target.
func TestServeRefusesCachedFileSwappedForSymlink(t *testing.T) {
	tests := []struct {
		name   string
		target func(repo, outside string) string
	}{
		{"outside absolute", func(_, outside string) string { return filepath.Join(outside, "secret.bin") }},
		{"outside relative", func(string, string) string { return "../../../../outside/secret.bin" }},
		{"hidden inside", func(repo, _ string) string { return filepath.Join(repo, ".git/config") }},
		{"key inside", func(repo, _ string) string { return filepath.Join(repo, "keys/release.key") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo, outside := serveTestRepo(t)
			serveWriteFile(t, filepath.Join(repo, ".git/config"), serveSecret)
			serveWriteFile(t, filepath.Join(repo, "keys/release.key"), serveSecret)
			h, base := startCachingHandler(t, repo, 0, serveTestRecheck)
			cachedAt := time.Now()
			serveCached(t, h, base, serveReleasePath, `{"version":"0.7.0"}`)

			name := filepath.Join(repo, filepath.FromSlash(serveReleasePath))
			serveSymlink(t, tt.target(repo, outside), name+".new")
			if err := os.Rename(name+".new", name); err != nil {
				t.Fatal(err)
			}
			serveWithinRecheck(t, base, cachedAt)
			resp, body := serveGet(t, serveClient(), "GET", base+serveReleasePath, nil)
			if resp.StatusCode != 404 || strings.Contains(body, serveSecret) {
				t.Fatalf("status %d, body %q; want 404", resp.StatusCode, body)
			}
			if n, _ := h.cache.size(); n != 0 {
				t.Errorf("refused file still cached")
			}
		})
	}
}

// A directory above a cached file renamed to a refused name (hidden, or
// out of the repository) with a symbolic link left in its place: the file
// itself is unchanged, so only opening it through every check tells that
// the request now leads somewhere refused. Once rechecked it is a 404.
func TestServeRefusesCachedFileBehindMovedDir(t *testing.T) {
	tests := []struct {
		name string
		to   func(repo, outside string) string
	}{
		{"hidden inside", func(repo, _ string) string { return filepath.Join(repo, ".old") }},
		{"outside", func(_, outside string) string { return filepath.Join(outside, "old") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo, outside := serveTestRepo(t)
			h, base := startCachingHandler(t, repo, 0, serveTestRecheck)
			cachedAt := time.Now()
			serveCached(t, h, base, serveReleasePath, `{"version":"0.7.0"}`)

			dir, to := filepath.Join(repo, "0.7.0"), tt.to(repo, outside)
			if err := os.Rename(dir, to); err != nil {
				t.Fatal(err)
			}
			serveSymlink(t, to, dir)
			serveWithinRecheck(t, base, cachedAt)
			if resp, body := serveGet(t, serveClient(), "GET", base+serveReleasePath, nil); resp.StatusCode != 404 {
				t.Fatalf("status %d, body %q; want 404", resp.StatusCode, body)
			}
		})
	}
}

// A cached file overwritten with a private key, in place or by a rename,
// is refused once rechecked; the key is never served.
func TestServeRefusesCachedFileReplacedByKey(t *testing.T) {
	const key = "-----BEGIN PRIVATE KEY-----\nMC4CAQA=\n-----END PRIVATE KEY-----\n"
	for _, inPlace := range []bool{true, false} {
		t.Run(map[bool]string{true: "in place", false: "rename"}[inPlace], func(t *testing.T) {
			repo, _ := serveTestRepo(t)
			h, base := startCachingHandler(t, repo, 0, serveTestRecheck)
			cachedAt := time.Now()
			serveCached(t, h, base, serveReleasePath, `{"version":"0.7.0"}`)
			name := filepath.Join(repo, filepath.FromSlash(serveReleasePath))
			if inPlace {
				serveWriteFile(t, name, key)
			} else {
				serveReplace(t, name, key)
			}
			serveWithinRecheck(t, base, cachedAt)
			resp, body := serveGet(t, serveClient(), "GET", base+serveReleasePath, nil)
			if resp.StatusCode != 404 || strings.Contains(body, "PRIVATE") {
				t.Fatalf("status %d, body %q; want 404", resp.StatusCode, body)
			}
		})
	}
}

// serveTestRecheck is the recheck bound of the swap tests: long enough for
// a request to fall within it, short enough not to slow the tests.
const serveTestRecheck = 300 * time.Millisecond

// serveWithinRecheck checks that a request made just after a cached
// release.json was swapped gets the cached bytes or a 404, never the new
// content, and the cached bytes if it ended within the recheck bound of
// cachedAt, a time before the entry was cached. It then waits the bound out.
func serveWithinRecheck(t *testing.T, base string, cachedAt time.Time) {
	t.Helper()
	resp, body := serveGet(t, serveClient(), "GET", base+serveReleasePath, nil)
	if strings.Contains(body, serveSecret) || strings.Contains(body, "PRIVATE") {
		t.Fatalf("served the swapped-in content: %q", body)
	}
	if time.Since(cachedAt) < serveTestRecheck && (resp.StatusCode != 200 || body != `{"version":"0.7.0"}`) {
		t.Errorf("within the recheck bound: status %d, body %q; want the cached bytes", resp.StatusCode, body)
	}
	time.Sleep(serveTestRecheck)
}

// A response from the cache carries the same headers as one read from
// disk, and conditional, range and HEAD requests work on it.
func TestServeCacheResponses(t *testing.T) {
	repo, _ := serveTestRepo(t)
	h, base := startCachingHandler(t, repo, 0, time.Hour)
	uncached, err := newRepoHandler(repo, nil)
	if err != nil {
		t.Fatal(err)
	}
	uncached.cache = nil
	ubase, _ := startHandlerServer(t, uncached)
	url := base + serveReleasePath
	serveCached(t, h, base, serveReleasePath, `{"version":"0.7.0"}`)

	want, _ := serveGet(t, serveClient(), "GET", ubase+serveReleasePath, nil)
	got, _ := serveGet(t, serveClient(), "GET", url, nil)
	for _, hdr := range []http.Header{want.Header, got.Header} {
		hdr.Del("Date")
	}
	if len(got.Header) != len(want.Header) {
		t.Errorf("cached headers %v, want %v", got.Header, want.Header)
	}
	for k := range want.Header {
		if got.Header.Get(k) != want.Header.Get(k) {
			t.Errorf("%s: cached %q, uncached %q", k, got.Header.Get(k), want.Header.Get(k))
		}
	}

	tests := []struct {
		method string
		hdr    map[string]string
		status int
		body   string
	}{
		{"HEAD", nil, 200, ""},
		{"GET", map[string]string{"Range": "bytes=2-8"}, 206, `version`},
		{"GET", map[string]string{"If-None-Match": want.Header.Get("ETag")}, 304, ""},
		{"GET", map[string]string{"If-None-Match": `"other"`}, 200, `{"version":"0.7.0"}`},
		{"GET", map[string]string{"If-Modified-Since": want.Header.Get("Last-Modified")}, 304, ""},
	}
	for _, tt := range tests {
		hits := h.cache.hits.Load()
		resp, body := serveGet(t, serveClient(), tt.method, url, tt.hdr)
		if resp.StatusCode != tt.status || body != tt.body {
			t.Errorf("%s %v: status %d, body %q; want %d %q", tt.method, tt.hdr, resp.StatusCode, body, tt.status, tt.body)
		}
		if tt.method == "HEAD" && resp.ContentLength != int64(len(`{"version":"0.7.0"}`)) {
			t.Errorf("HEAD: Content-Length %d", resp.ContentLength)
		}
		if h.cache.hits.Load() != hits+1 {
			t.Errorf("%s %v: not served from the cache", tt.method, tt.hdr)
		}
	}
}

// Files larger than serveCacheMaxFile are never held, and the cache as a
// whole stays within serveCacheMaxBytes however many files are requested.
func TestServeCacheIsBounded(t *testing.T) {
	repo, _ := serveTestRepo(t)
	serveWriteFile(t, filepath.Join(repo, "big.json"), strings.Repeat("x", serveCacheMaxFile+1))
	const n = 300 // 300 files of 32 KiB: more than the bound
	for i := range n {
		serveWriteFile(t, filepath.Join(repo, "m", fmt.Sprintf("f%03d.json", i)), strings.Repeat("y", 32<<10))
	}
	h, base := startCachingHandler(t, repo, 0, time.Hour)
	if resp, _ := serveGet(t, serveClient(), "GET", base+"/big.json", nil); resp.StatusCode != 200 {
		t.Fatalf("big.json: status %d", resp.StatusCode)
	}
	if n, _ := h.cache.size(); n != 0 {
		t.Fatalf("a file of %d bytes was cached", serveCacheMaxFile+1)
	}
	files, err := os.ReadDir(filepath.Join(repo, "m"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if resp, _ := serveGet(t, serveClient(), "GET", base+"/m/"+f.Name(), nil); resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", f.Name(), resp.StatusCode)
		}
		if n, cost := h.cache.size(); cost > serveCacheMaxBytes {
			t.Fatalf("cache holds %d entries, %d bytes, bound %d", n, cost, serveCacheMaxBytes)
		}
	}
	if n, _ := h.cache.size(); n == 0 || n >= len(files) {
		t.Errorf("%d of %d files cached; want some, not all", n, len(files))
	}
}

// BenchmarkServeReleaseJSON fetches a cached release.json over a keep-alive
// loopback connection; the client's own cost is included.
func BenchmarkServeReleaseJSON(b *testing.B) {
	repo := filepath.Join(b.TempDir(), "repo")
	if err := os.MkdirAll(filepath.Join(repo, "0.7.0/linux/amd64"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, filepath.FromSlash(serveReleasePath)), []byte(strings.Repeat("r", 564)), 0o644); err != nil {
		b.Fatal(err)
	}
	h, err := newRepoHandler(repo, nil)
	if err != nil {
		b.Fatal(err)
	}
	h.settle = 0
	srv := &http.Server{Handler: h}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	c := &http.Client{}
	url := "http://" + ln.Addr().String() + serveReleasePath
	buf := make([]byte, 1024)
	for b.Loop() {
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := resp.Body.Read(buf)
		for n > 0 {
			n, _ = resp.Body.Read(buf)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// size returns the number of entries and their total cost.
func (c *serveCache) size() (int, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries), c.cost
}

// countingLog counts the writes it receives.
type countingLog struct {
	serveLogBuffer
	writes atomic.Int64
}

func (c *countingLog) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.serveLogBuffer.Write(p)
}

func TestServeLogIsBatched(t *testing.T) {
	repo, _ := serveTestRepo(t)
	var logw countingLog
	base, stop := startServe(t, ServeConfig{Dir: repo, Log: &logw})
	c := serveClient()
	serveGet(t, c, "GET", base+"/0.7.0/linux/amd64/release.json", nil)
	// A lone line comes out soon, without waiting for more.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logw.String(), "release.json") {
		if time.Now().After(deadline) {
			t.Fatal("log line not written within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	const n = 50
	for range n {
		serveGet(t, c, "GET", base+"/0.7.0/linux/amd64/release.json", nil)
	}
	stop() // writes what is still waiting
	if lines := strings.Count(logw.String(), "\n"); lines != n+1 {
		t.Fatalf("%d log lines, want %d", lines, n+1)
	}
	if w := logw.writes.Load(); w > n/2 {
		t.Errorf("%d writes for %d lines, want them batched", w, n+1)
	}
}
