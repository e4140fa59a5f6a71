package repotool

// Tests of the server around the handler: request limits, TLS, the
// configuration, shutdown, the sendfile path and slow clients.

import (
	"bytes"
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
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

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
		t.Fatal("a TLS 1.1 client was served")
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

// A client that stops reading a download cannot hold shutdown past its
// bound, and its request is logged by the time Serve returns.
func TestServeShutdownIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skipf("skipped with -short: waits out the %v shutdown grace period", serveShutdownTimeout)
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
	var logBuf serveLogBuffer
	base, stop := startServe(t, ServeConfig{Dir: repo, Log: &logBuf})
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
	// The cut download is logged, and by the time Serve returns.
	logged := logBuf.String()
	if !strings.Contains(logged, " GET /big.bz2 200 ") {
		t.Errorf("the cut download is not in the log when Serve returns: %q", logged)
	}
	time.Sleep(100 * time.Millisecond)
	if after := logBuf.String(); after != logged {
		t.Errorf("written to the log after Serve returned: %q", after[len(logged):])
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
func startHandlerServer(t testing.TB, h http.Handler) (string, *atomic.Int64) {
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
	h, err := newRepoHandler(repo, &logBuf) // serveLogBuffer locks itself
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

// The stall bound is not a bound on the whole response: a client that keeps
// reading, more slowly than the file could be sent, gets all of it even
// when that takes several times the bound.
func TestServeKeepsSlowSteadyClient(t *testing.T) {
	repo, _ := serveTestRepo(t)
	const size = 16 << 20
	big := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	serveWriteFile(t, filepath.Join(repo, "big.bz2"), string(big))
	h, err := newRepoHandler(repo, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Two seconds: the kernel wakes a blocked send only once a third of the
	// send buffer has drained, about 1.3 MiB, so a client must take that
	// much per bound; this one takes about 4 MiB/s, for about 4 s.
	h.stall = 2 * time.Second
	base, _ := startHandlerServer(t, h)
	resp, err := serveClient().Get(base + "/big.bz2")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	buf := make([]byte, 64<<10)
	var got int
	for {
		n, err := io.ReadFull(resp.Body, buf)
		got += n
		if err != nil {
			break
		}
		time.Sleep(15 * time.Millisecond) // about 4 MiB/s
	}
	if got != size {
		t.Fatalf("a client reading steadily got %d of %d bytes in %v (stall bound %v)", got, size, time.Since(start), h.stall)
	}
	if d := time.Since(start); d < 3*h.stall/2 {
		t.Logf("took only %v: the bound was hardly tested", d)
	}
}

// A client that sends requests whose responses have no body (HEAD) and
// reads nothing is cut after the stall bound too: the deadline is set
// before the headers are written, not only for a body.
//
// The client writes whole requests with blocking writes until the server
// cuts it; about 16,000 responses fill the socket buffers, taking 1-2 s
// here. An earlier version shrank the client's receive buffer to 4 KiB and
// wrote under 1 s deadlines: on loopback the tiny buffer drops the
// server's 64 KiB segments, both ends fall into retransmission backoff and
// the requests stop arriving, so the server waited to read, not to write
// (no stall to cut; serve's read timeouts handle that client), and a
// write cut by its deadline left half a request, which made the stream
// malformed.
func TestServeCutsClientNotReadingHeadResponses(t *testing.T) {
	repo, _ := serveTestRepo(t)
	h, err := newRepoHandler(repo, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.stall = 300 * time.Millisecond
	base, _ := startHandlerServer(t, h)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	batch := []byte(strings.Repeat("HEAD /root.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 1000))
	cut := make(chan error, 1)
	go func() {
		for {
			if _, err := conn.Write(batch); err != nil {
				cut <- err
				return
			}
		}
	}()
	// Generous: a machine ten times slower than this one needs 20 s.
	const wait = 60 * time.Second
	select {
	case err := <-cut:
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the client's own write timed out: %v", err)
		}
	case <-time.After(wait):
		conn.Close() // ends the writer
		t.Fatalf("a client reading no HEAD responses was not cut within %v (stall bound %v)", wait, h.stall)
	}
}
