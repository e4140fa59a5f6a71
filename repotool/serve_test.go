package repotool

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
func TestServeFollowsReplacedDir(t *testing.T) {
	base := t.TempDir()
	serveWriteFile(t, filepath.Join(base, "v1/root.json"), "one")
	serveWriteFile(t, filepath.Join(base, "v2/root.json"), "two")
	link := filepath.Join(base, "current")
	serveSymlink(t, "v1", link)
	url, _ := startServe(t, ServeConfig{Dir: link})
	if _, body := serveGet(t, serveClient(), "GET", url+"/root.json", nil); body != "one" {
		t.Fatalf("got %q, want one", body)
	}
	tmp := filepath.Join(base, "current.new")
	serveSymlink(t, "v2", tmp)
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
	if _, body := serveGet(t, serveClient(), "GET", url+"/root.json", nil); body != "two" {
		t.Fatalf("got %q after swap, want two", body)
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
	if err := exec.Command("mkfifo", filepath.Join(repo, "pipe.bin")).Run(); err != nil {
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

func TestServeLimitsHeaderSize(t *testing.T) {
	repo, _ := serveTestRepo(t)
	base, _ := startServe(t, ServeConfig{Dir: repo})
	resp, _ := serveGet(t, serveClient(), "GET", base+"/root.json", map[string]string{"X-Big": strings.Repeat("a", 64<<10)})
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
}

// serveSelfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool trusting the certificate.
func serveSelfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "repotool test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	serveWriteFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	serveWriteFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})))
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServeTLS(t *testing.T) {
	repo, _ := serveTestRepo(t)
	certFile, keyFile, pool := serveSelfSigned(t)
	base, _ := startServe(t, ServeConfig{Dir: repo, TLSCert: certFile, TLSKey: keyFile})
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("ready URL %q, want https://127.0.0.1:PORT", base)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, body := serveGet(t, c, "GET", base+"/0.7.0/linux/amd64/app.bz2", nil)
	if resp.StatusCode != 200 || body != servePayload() {
		t.Fatalf("status %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("TLS state %+v", resp.TLS)
	}

	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11,
	}}}
	if resp, err := old.Get(base + "/root.json"); err == nil {
		resp.Body.Close()
		t.Fatal("a TLS 1.1 serveClient was served")
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	repo, _ := serveTestRepo(t)
	certFile, keyFile, _ := serveSelfSigned(t)
	file := filepath.Join(repo, "root.json")
	missing := filepath.Join(repo, "missing")
	tests := []struct {
		name string
		cfg  ServeConfig
		want string
	}{
		{"no dir", ServeConfig{}, "repotool: serve: no repository directory given"},
		{"dir is a file", ServeConfig{Dir: file}, "repotool: serve: " + file + " is not a directory"},
		{"dir missing", ServeConfig{Dir: missing}, "repotool: serve: " + missing + " is not a directory: "},
		{"cert only", ServeConfig{Dir: repo, TLSCert: certFile}, "repotool: serve: TLS needs both"},
		{"key only", ServeConfig{Dir: repo, TLSKey: keyFile}, "repotool: serve: TLS needs both"},
		{"bad cert", ServeConfig{Dir: repo, TLSCert: file, TLSKey: keyFile}, "repotool: serve: loading TLS certificate: "},
		{"bad addr", ServeConfig{Dir: repo, Addr: "127.0.0.1:notaport"}, "repotool: serve: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.Addr == "" {
				tt.cfg.Addr = "127.0.0.1:0"
			}
			var ready bytes.Buffer
			err := Serve(t.Context(), tt.cfg, &ready)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err %v, want prefix %q", err, tt.want)
			}
			if ready.Len() != 0 {
				t.Errorf("ready line written on error: %q", ready.String())
			}
		})
	}
	if _, err := Handler(missing, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Handler(missing): %v, want fs.ErrNotExist", err)
	}
	if _, err := Handler(file, nil); err == nil || err.Error() != "repotool: serve: "+file+" is not a directory" {
		t.Errorf("Handler(file): %v", err)
	}
}

// Cancelling the context stops Serve promptly, even with an idle keep-alive
// connection open, and nothing listens afterwards.
func TestServeStopsOnCancel(t *testing.T) {
	repo, _ := serveTestRepo(t)
	base, stop := startServe(t, ServeConfig{Dir: repo})
	c := serveClient()
	serveGet(t, c, "GET", base+"/root.json", nil) // leaves an idle connection
	start := time.Now()
	stop()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Serve took %v to return", d)
	}
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second)
	if err == nil {
		conn.Close()
		t.Error("still listening after cancel")
	}
}

// A serveClient that stops reading a download cannot hold shutdown past its bound.
func TestServeShutdownIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the shutdown grace period")
	}
	repo, _ := serveTestRepo(t)
	f, err := os.Create(filepath.Join(repo, "big.bz2"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(256 << 20); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	base, stop := startServe(t, ServeConfig{Dir: repo})
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /big.bz2 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	time.Sleep(200 * time.Millisecond) // let the server fill the socket buffers
	start := time.Now()
	stop()
	if d := time.Since(start); d > serveShutdownTimeout+3*time.Second {
		t.Errorf("Serve took %v to return", d)
	}
}

// Handler works in the caller's own server and logs there too.
func TestHandlerInOwnServer(t *testing.T) {
	repo, _ := serveTestRepo(t)
	var logBuf serveLogBuffer
	h, err := Handler(repo, &logBuf)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	srv.Start()
	resp, body := serveGet(t, serveClient(), "GET", srv.URL+"/root.json", nil)
	srv.Close() // waits for the handler, so the log line is written
	if resp.StatusCode != 200 || !strings.Contains(body, "signed") {
		t.Fatalf("status %d, body %q", resp.StatusCode, body)
	}
	if !strings.Contains(logBuf.String(), " GET /root.json 200 ") {
		t.Errorf("log %q", logBuf.String())
	}
}

// readFromConn records how many bytes reach the connection through ReadFrom
// straight from a file, the shape that sendfile(2) takes.
type readFromConn struct {
	*net.TCPConn
	fileBytes *atomic.Int64
}

func (c readFromConn) ReadFrom(r io.Reader) (int64, error) {
	n, err := c.TCPConn.ReadFrom(r)
	if lr, ok := r.(*io.LimitedReader); ok {
		if _, ok := lr.R.(*os.File); ok {
			c.fileBytes.Add(n)
		}
	}
	return n, err
}

type readFromListener struct {
	net.Listener
	fileBytes *atomic.Int64
}

func (l readFromListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return readFromConn{TCPConn: c.(*net.TCPConn), fileBytes: l.fileBytes}, nil
}

// startHandlerServer serves h on a loopback listener whose connections
// count the bytes sent from files through ReadFrom.
func startHandlerServer(t *testing.T, h http.Handler) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var fileBytes atomic.Int64
	srv := &httptest.Server{Listener: readFromListener{ln, &fileBytes}, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL, &fileBytes
}

// A payload goes from the file to the connection through ReadFrom
// (sendfile on Linux), not through a copy in user space, and the request log
// still counts every byte.
func TestServeSendsFilesThroughReadFrom(t *testing.T) {
	repo, _ := serveTestRepo(t)
	const size = 8 << 20
	big := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	serveWriteFile(t, filepath.Join(repo, "big.bz2"), string(big))
	var logBuf serveLogBuffer
	h, err := Handler(repo, &logBuf)
	if err != nil {
		t.Fatal(err)
	}
	base, fileBytes := startHandlerServer(t, h)
	resp, body := serveGet(t, serveClient(), "GET", base+"/big.bz2", nil)
	if resp.StatusCode != 200 || body != string(big) {
		t.Fatalf("status %d, %d bytes, want %d", resp.StatusCode, len(body), size)
	}
	// net/http writes the first 512 bytes itself, to sniff them.
	if got := fileBytes.Load(); got < size-512 {
		t.Errorf("%d of %d bytes sent from the file through ReadFrom", got, size)
	}
	if want := fmt.Sprintf(" GET /big.bz2 200 %d ", size); !strings.Contains(logBuf.String(), want) {
		t.Errorf("log %q, want %q", logBuf.String(), want)
	}
}

// A client that stops reading a download is cut after the stall bound, even
// on the ReadFrom path, where a single sendfile call would otherwise block
// for ever.
func TestServeCutsStalledClient(t *testing.T) {
	repo, _ := serveTestRepo(t)
	f, err := os.Create(filepath.Join(repo, "big.bz2"))
	if err != nil {
		t.Fatal(err)
	}
	const size = 256 << 20
	if err := f.Truncate(size); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	var logBuf serveLogBuffer
	h, err := newRepoHandler(repo, &lockedLog{w: &logBuf})
	if err != nil {
		t.Fatal(err)
	}
	h.stall = 300 * time.Millisecond
	base, fileBytes := startHandlerServer(t, h)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	fmt.Fprintf(conn, "GET /big.bz2 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logBuf.String(), " GET /big.bz2 200 ") {
		if time.Now().After(deadline) {
			t.Fatalf("the response to a client that reads nothing was not cut within 10s (%d bytes sent)", fileBytes.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	f2 := strings.Fields(logBuf.String())
	if n, err := strconv.ParseInt(f2[5], 10, 64); err != nil || n >= size {
		t.Errorf("log %q: want fewer than %d bytes sent", logBuf.String(), size)
	}
	if fileBytes.Load() == 0 {
		t.Errorf("no bytes went through ReadFrom; the test does not exercise the fast path")
	}
}
