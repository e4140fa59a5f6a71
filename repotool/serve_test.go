package repotool

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/internal/testprog"
)

const serveSecret = "TOP SECRET outside the repository"

// serveTestRepo builds a small repository and, next to it, a directory that must
// never be served. It returns both paths.
func serveTestRepo(t *testing.T) (repo, outside string) {
	t.Helper()
	base := t.TempDir()
	repo = filepath.Join(base, "repo")
	outside = filepath.Join(base, "outside")
	serveWriteFile(t, filepath.Join(outside, "secret.bin"), serveSecret)
	serveWriteFile(t, filepath.Join(repo, "root.json"), `{"signed":{"version":1}}`)
	serveWriteFile(t, filepath.Join(repo, "0.7.0/linux/amd64/release.json"), `{"version":"0.7.0"}`)
	serveWriteFile(t, filepath.Join(repo, "0.7.0/linux/amd64/app.bz2"), servePayload())
	return repo, outside
}

func servePayload() string {
	b := make([]byte, 1000)
	for i := range b {
		b[i] = byte(i)
	}
	return string(b)
}

func serveWriteFile(t *testing.T, name, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func serveSymlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Skipf("cannot create symbolic links here: %v", err)
	}
}

// serveLogBuffer is a log writer the test can read while the server writes.
type serveLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *serveLogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *serveLogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs Serve on a free loopback port and returns the base URL from
// its ready line and a stop function, which cancels Serve and checks that it
// returned nil promptly. Cleanup calls stop too.
func startServe(t *testing.T, cfg ServeConfig) (string, func()) {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := Serve(ctx, cfg, pw)
		pw.Close()
		errc <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("no ready line (%v); Serve: %v", err, <-errc)
	}
	prefix := "serving " + cfg.Dir + " at "
	if !strings.HasPrefix(line, prefix) {
		cancel()
		t.Fatalf("ready line %q does not start with %q", line, prefix)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("Serve returned %v after cancel, want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Serve did not return within 10s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return strings.TrimSuffix(strings.TrimPrefix(line, prefix), "\n"), stop
}

func serveGet(t *testing.T, c *http.Client, method, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func serveClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }

// serveRawGet sends target exactly as given, bypassing the client's URL handling,
// so that hostile request lines reach the server unchanged.
func serveRawGet(t *testing.T, base, target string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", target)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %q: %v", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestServeReadyLineCarriesRealPort(t *testing.T) {
	repo, _ := serveTestRepo(t)
	base, _ := startServe(t, ServeConfig{Dir: repo})
	host, port, err := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	if err != nil || !strings.HasPrefix(base, "http://") {
		t.Fatalf("ready URL %q is not http://host:port (%v)", base, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n == 0 || host != "127.0.0.1" {
		t.Fatalf("ready URL %q: want 127.0.0.1 and a real port", base)
	}
	resp, body := serveGet(t, serveClient(), "GET", base+"/0.7.0/linux/amd64/app.bz2", nil)
	if resp.StatusCode != 200 || body != servePayload() {
		t.Fatalf("GET servePayload: status %d, %d bytes", resp.StatusCode, len(body))
	}
}

func TestServeHeaders(t *testing.T) {
	repo, _ := serveTestRepo(t)
	serveWriteFile(t, filepath.Join(repo, "page.html"), "<html><script>alert(1)</script>")
	base, _ := startServe(t, ServeConfig{Dir: repo})
	tests := []struct {
		path, contentType, cacheControl string
	}{
		{"/0.7.0/linux/amd64/release.json", "application/json", "no-cache"},
		{"/root.json", "application/json", "no-cache"},
		{"/0.7.0/linux/amd64/app.bz2", "application/octet-stream", "public, max-age=3600"},
		{"/page.html", "application/octet-stream", "public, max-age=3600"}, // never sniffed
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, _ := serveGet(t, serveClient(), "GET", base+tt.path, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			h := resp.Header
			if got := h.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type %q, want %q", got, tt.contentType)
			}
			if got := h.Get("Cache-Control"); got != tt.cacheControl {
				t.Errorf("Cache-Control %q, want %q", got, tt.cacheControl)
			}
			if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if h.Get("ETag") == "" || h.Get("Last-Modified") == "" {
				t.Errorf("missing ETag or Last-Modified: %v", h)
			}
		})
	}
}

func TestServeHead(t *testing.T) {
	repo, _ := serveTestRepo(t)
	base, _ := startServe(t, ServeConfig{Dir: repo})
	resp, body := serveGet(t, serveClient(), "HEAD", base+"/0.7.0/linux/amd64/app.bz2", nil)
	if resp.StatusCode != 200 || body != "" || resp.ContentLength != int64(len(servePayload())) {
		t.Fatalf("HEAD: status %d, body %d bytes, Content-Length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
}

func TestServeRefusesOtherMethods(t *testing.T) {
	repo, _ := serveTestRepo(t)
	base, _ := startServe(t, ServeConfig{Dir: repo})
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"} {
		t.Run(m, func(t *testing.T) {
			resp, _ := serveGet(t, serveClient(), m, base+"/root.json", nil)
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("status %d, want 405", resp.StatusCode)
			}
			if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
				t.Errorf("Allow %q", got)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(repo, "root.json")); err != nil {
		t.Fatalf("root.json touched: %v", err)
	}
}

func TestServeRefusesDirectories(t *testing.T) {
	repo, _ := serveTestRepo(t)
	serveWriteFile(t, filepath.Join(repo, "site/index.html"), "index")
	base, _ := startServe(t, ServeConfig{Dir: repo})
	for _, p := range []string{"/", "/0.7.0", "/0.7.0/", "/0.7.0/linux/amd64/", "/site", "/site/", "/root.json/"} {
		t.Run(p, func(t *testing.T) {
			resp, body := serveRawGet(t, base, p)
			if resp.StatusCode != 404 {
				t.Fatalf("status %d, want 404; body %q", resp.StatusCode, body)
			}
		})
	}
}

func TestServeRefusesPathTraversal(t *testing.T) {
	repo, outside := serveTestRepo(t)
	base, _ := startServe(t, ServeConfig{Dir: repo})
	tests := []struct {
		target string
		want   int // 400 where net/http refuses the request line itself
	}{
		{"/../outside/secret.bin", 404},
		{"/0.7.0/../../outside/secret.bin", 404},
		{"/%2e%2e/outside/secret.bin", 404},
		{"/%2E%2E%2Foutside%2Fsecret.bin", 404},
		{"/..%5coutside%5csecret.bin", 404},
		{`/..\outside\secret.bin`, 404},
		{"/root.json%00", 404},
		{"/root.json%00.bz2", 404},
		{"//" + strings.TrimPrefix(filepath.ToSlash(outside), "/") + "/secret.bin", 404},
		{"/" + filepath.ToSlash(outside) + "/secret.bin", 404},
		{"http://127.0.0.1/../outside/secret.bin", 404},
		{"/./root.json", 404},
		{"/0.7.0//linux/amd64/release.json", 404},
		{"/root.json\x00", 400},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			resp, body := serveRawGet(t, base, tt.target)
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if strings.Contains(body, serveSecret) || strings.Contains(body, "signed") {
				t.Errorf("served a file: %q", body)
			}
		})
	}
}

func TestServeRefusesSymlinkEscape(t *testing.T) {
	repo, outside := serveTestRepo(t)
	serveSymlink(t, filepath.Join(outside, "secret.bin"), filepath.Join(repo, "abs.bin"))
	serveSymlink(t, "../outside/secret.bin", filepath.Join(repo, "rel.bin"))
	serveSymlink(t, outside, filepath.Join(repo, "outdir"))
	serveSymlink(t, "../../../outside", filepath.Join(repo, "0.7.0/linux/up"))
	base, _ := startServe(t, ServeConfig{Dir: repo})
	for _, p := range []string{"/abs.bin", "/rel.bin", "/outdir/secret.bin", "/0.7.0/linux/up/secret.bin"} {
		t.Run(p, func(t *testing.T) {
			resp, body := serveRawGet(t, base, p)
			if resp.StatusCode != 404 || strings.Contains(body, serveSecret) {
				t.Fatalf("status %d, body %q; want 404", resp.StatusCode, body)
			}
		})
	}
}

// Symbolic links that stay inside the repository are followed, absolute or
// relative, but cannot alias a hidden file or a key.
func TestServeSymlinkInside(t *testing.T) {
	repo, _ := serveTestRepo(t)
	serveWriteFile(t, filepath.Join(repo, ".git/config"), "[core]")
	serveWriteFile(t, filepath.Join(repo, "keys/release.key"), "private")
	serveSymlink(t, "0.7.0", filepath.Join(repo, "latest"))
	serveSymlink(t, filepath.Join(repo, "root.json"), filepath.Join(repo, "abs-root.json"))
	serveSymlink(t, ".git/config", filepath.Join(repo, "config.bin"))
	serveSymlink(t, "keys/release.key", filepath.Join(repo, "release.bin"))
	serveSymlink(t, ".git", filepath.Join(repo, "git"))
	base, _ := startServe(t, ServeConfig{Dir: repo})
	tests := []struct {
		path string
		want int
	}{
		{"/latest/linux/amd64/app.bz2", 200},
		{"/abs-root.json", 200},
		{"/config.bin", 404},
		{"/release.bin", 404},
		{"/git/config", 404},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if resp, _ := serveRawGet(t, base, tt.path); resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// A repository published by swapping a symbolic link to a new directory is
// served from the new directory at once.
// A repository published by swapping a symbolic link to it is served as
// it now is at once: from disk, and from the cache, whose entries are then
// rechecked at every request (recheck 0).
func TestServeFollowsReplacedDir(t *testing.T) {
	for _, cached := range []bool{false, true} {
		t.Run(map[bool]string{false: "uncached", true: "cached"}[cached], func(t *testing.T) {
			base := t.TempDir()
			serveWriteFile(t, filepath.Join(base, "v1/root.json"), "one")
			serveWriteFile(t, filepath.Join(base, "v2/root.json"), "two")
			link := filepath.Join(base, "current")
			serveSymlink(t, "v1", link)
			var url string
			if cached {
				var h *repoHandler
				h, url = startCachingHandler(t, link, 0, 0)
				serveCached(t, h, url, "/root.json", "one")
			} else {
				url, _ = startServe(t, ServeConfig{Dir: link})
				if _, body := serveGet(t, serveClient(), "GET", url+"/root.json", nil); body != "one" {
					t.Fatalf("got %q, want one", body)
				}
			}
			tmp := filepath.Join(base, "current.new")
			serveSymlink(t, "v2", tmp)
			if err := os.Rename(tmp, link); err != nil {
				t.Fatal(err)
			}
			if _, body := serveGet(t, serveClient(), "GET", url+"/root.json", nil); body != "two" {
				t.Fatalf("got %q after swap, want two", body)
			}
		})
	}
}

func TestServeRefusesHiddenFiles(t *testing.T) {
	repo, _ := serveTestRepo(t)
	for _, name := range []string{".git/config", ".env", "0.7.0/.cache/x", ".well-known/x.json"} {
		serveWriteFile(t, filepath.Join(repo, name), "hidden")
	}
	base, _ := startServe(t, ServeConfig{Dir: repo})
	for _, p := range []string{"/.git/config", "/.git", "/.env", "/0.7.0/.cache/x", "/.well-known/x.json", "/%2egit/config"} {
		t.Run(p, func(t *testing.T) {
			if resp, body := serveRawGet(t, base, p); resp.StatusCode != 404 {
				t.Fatalf("status %d, body %q; want 404", resp.StatusCode, body)
			}
		})
	}
}

func TestServeRefusesPrivateKeys(t *testing.T) {
	repo, _ := serveTestRepo(t)
	serveWriteFile(t, filepath.Join(repo, "keys/release.key"), "anything")
	serveWriteFile(t, filepath.Join(repo, "keys/OTHER.KEY"), "anything")
	serveWriteFile(t, filepath.Join(repo, "keys/release.pem"), "-----BEGIN PRIVATE KEY-----\nMC4CAQA=\n-----END PRIVATE KEY-----\n")
	serveWriteFile(t, filepath.Join(repo, "keys/ec.pem"), "label\n-----BEGIN EC PRIVATE KEY-----\nMC4=\n-----END EC PRIVATE KEY-----\n")
	serveWriteFile(t, filepath.Join(repo, "keys/release.age"), "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n")
	serveWriteFile(t, filepath.Join(repo, "keys/release.pub"), "-----BEGIN PUBLIC KEY-----\nMCow\n-----END PUBLIC KEY-----\n")
	base, _ := startServe(t, ServeConfig{Dir: repo})
	tests := []struct {
		path string
		want int
	}{
		{"/keys/release.key", 404},
		{"/keys/OTHER.KEY", 404},
		{"/keys/release.pem", 404},
		{"/keys/ec.pem", 404},
		{"/keys/release.age", 404},
		{"/keys/release.pub", 200},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if resp, _ := serveRawGet(t, base, tt.path); resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// Names that Windows would resolve to another file (a stream, a short name,
// a name without its trailing dot) are refused everywhere, even when a file
// of that exact name exists.
func TestServeRefusesWindowsAliases(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("these names cannot be created on Windows")
	}
	repo, _ := serveTestRepo(t)
	names := []string{"app.key.", "app.key ", "root.json:stream", "GIT~1"}
	for _, n := range names {
		serveWriteFile(t, filepath.Join(repo, n), "alias")
	}
	base, _ := startServe(t, ServeConfig{Dir: repo})
	for _, n := range []string{"/app.key.", "/app.key%20", "/root.json:stream", "/GIT~1"} {
		t.Run(n, func(t *testing.T) {
			if resp, _ := serveRawGet(t, base, n); resp.StatusCode != 404 {
				t.Fatalf("status %d, want 404", resp.StatusCode)
			}
		})
	}
}

// A FIFO in the repository must not hang the request (opening it for
// reading would block until a writer comes).
func TestServeRefusesFIFO(t *testing.T) {
	repo, _ := serveTestRepo(t)
	if err := exec.Command(testprog.Path(t, "mkfifo"), filepath.Join(repo, "pipe.bin")).Run(); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	base, _ := startServe(t, ServeConfig{Dir: repo})
	if resp, _ := serveRawGet(t, base, "/pipe.bin"); resp.StatusCode != 404 {
		t.Fatalf("status %d, want 404", resp.StatusCode)
	}
}

func TestServeRange(t *testing.T) {
	repo, _ := serveTestRepo(t)
	base, _ := startServe(t, ServeConfig{Dir: repo})
	resp, body := serveGet(t, serveClient(), "GET", base+"/0.7.0/linux/amd64/app.bz2", map[string]string{"Range": "bytes=10-19"})
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("status %d, want 206", resp.StatusCode)
	}
	if want := servePayload()[10:20]; body != want {
		t.Errorf("body %x, want %x", body, want)
	}
	if got := resp.Header.Get("Content-Range"); got != "bytes 10-19/1000" {
		t.Errorf("Content-Range %q", got)
	}
}

func TestServeConditional(t *testing.T) {
	repo, _ := serveTestRepo(t)
	base, _ := startServe(t, ServeConfig{Dir: repo})
	url := base + "/0.7.0/linux/amd64/release.json"
	first, _ := serveGet(t, serveClient(), "GET", url, nil)
	lastMod, etag := first.Header.Get("Last-Modified"), first.Header.Get("ETag")

	if resp, body := serveGet(t, serveClient(), "GET", url, map[string]string{"If-Modified-Since": lastMod}); resp.StatusCode != http.StatusNotModified || body != "" {
		t.Errorf("If-Modified-Since: status %d, body %q; want 304", resp.StatusCode, body)
	}
	if resp, _ := serveGet(t, serveClient(), "GET", url, map[string]string{"If-None-Match": etag}); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", resp.StatusCode)
	}

	// A changed file gets a new ETag, so the old one no longer matches.
	name := filepath.Join(repo, "0.7.0/linux/amd64/release.json")
	serveWriteFile(t, name, `{"version":"0.7.0","size":1}`)
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(name, later, later); err != nil {
		t.Fatal(err)
	}
	if resp, _ := serveGet(t, serveClient(), "GET", url, map[string]string{"If-None-Match": etag}); resp.StatusCode != 200 {
		t.Errorf("If-None-Match after change: status %d, want 200", resp.StatusCode)
	}
}

func TestServeRequestLog(t *testing.T) {
	repo, _ := serveTestRepo(t)
	var logBuf serveLogBuffer
	base, stop := startServe(t, ServeConfig{Dir: repo, Log: &logBuf})
	serveGet(t, serveClient(), "GET", base+"/0.7.0/linux/amd64/app.bz2", map[string]string{"Range": "bytes=0-9"})
	serveGet(t, serveClient(), "GET", base+"/missing%0Afake%20line", nil)
	stop() // waits for handlers, so every line is written

	lines := strings.Split(strings.TrimSuffix(logBuf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 log lines, got %q", logBuf.String())
	}
	for i, want := range [][]string{
		{"127.0.0.1:", "GET", "/0.7.0/linux/amd64/app.bz2", "206", "10"},
		{"127.0.0.1:", "GET", "/missing%0Afake%20line", "404"},
	} {
		f := strings.Fields(lines[i])
		if len(f) != 7 {
			t.Fatalf("line %q: want 7 fields", lines[i])
		}
		if _, err := time.Parse(time.RFC3339, f[0]); err != nil {
			t.Errorf("line %q: time: %v", lines[i], err)
		}
		if !strings.HasPrefix(f[1], want[0]) || f[2] != want[1] || f[3] != want[2] || f[4] != want[3] {
			t.Errorf("line %q: want remote %s, %v", lines[i], want[0], want[1:])
		}
		if len(want) > 4 && f[5] != want[4] {
			t.Errorf("line %q: bytes %s, want %s", lines[i], f[5], want[4])
		}
		if _, err := time.ParseDuration(f[6]); err != nil {
			t.Errorf("line %q: duration: %v", lines[i], err)
		}
	}
}
