package repotool

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Bounds of the repository server. A client of the server may be hostile,
// so every wait on it and every size read from it is capped here.
const (
	// serveReadHeaderTimeout bounds how long a client may take to send its
	// request headers (slowloris).
	serveReadHeaderTimeout = 10 * time.Second

	// serveReadTimeout bounds reading a whole request. Only GET and HEAD
	// are served, so there is no body worth waiting for.
	serveReadTimeout = 30 * time.Second

	// serveIdleTimeout bounds how long an idle keep-alive connection is kept.
	serveIdleTimeout = 120 * time.Second

	// serveWriteStall is how long a response may make no progress at all
	// before the connection is dropped. It stands in for http.Server's
	// WriteTimeout, which bounds the whole response and so would cut a
	// legitimate multi-gigabyte download over a slow link; a stall bound
	// cuts only clients that stop reading, which would otherwise hold a
	// connection and a file descriptor forever.
	serveWriteStall = 60 * time.Second

	// serveMaxHeaderBytes bounds the request line and headers together.
	serveMaxHeaderBytes = 16 << 10

	// serveShutdownTimeout bounds the graceful shutdown once the context is
	// cancelled; downloads still running after it are cut.
	serveShutdownTimeout = 5 * time.Second

	// servePEMProbe is how much of each file is read to spot a private key
	// that does not end in ".key".
	servePEMProbe = 1 << 10
)

// Handler serves the repository in dir read-only, for use in the caller's
// own http.Server. Serve wraps it with timeouts and TLS.
//
// Security contract: the handler serves the bytes that are in dir, as they
// are. It does not verify signatures, hashes, expiry or anything else about
// them; clients must (package apply does). What it does guarantee:
//
//   - Only GET and HEAD are answered (405 otherwise); nothing is ever written.
//   - Only regular files are served. Directories, "/" included, are 404 (no
//     listings, and not 403, so that existence is not revealed), as are
//     devices, FIFOs and sockets.
//   - Nothing outside dir is served. A path that is not already clean (a
//     "." or ".." segment, an empty one, a trailing slash) or that holds a
//     backslash or a control character is refused, and so are a colon, a
//     "~" and a segment ending in "." or " ", on every platform, because
//     Windows resolves them to other files (alternate data streams, 8.3
//     short names such as GIT~1 for .git, dropped trailing characters).
//     Files are opened through os.Root, which refuses by construction any
//     symbolic link that leads outside dir, even one swapped in during the
//     request.
//   - Symbolic links that stay inside dir are followed, absolute or
//     relative, and the hidden-file and private-key name rules below apply
//     both to the requested path and to the path the links resolve to, so a
//     link cannot alias a refused file (the latter check is made just
//     before opening, so a link swapped in between escapes it, though not
//     the containment above).
//   - Hidden files (any path segment starting with "."), so .git and the
//     like never leak, and private keys are 404: names ending in ".key"
//     (case-insensitively) and any file whose first KiB holds a PEM private
//     key or an age-encrypted file, whatever its name.
//
// What is NOT protected: anything else placed in dir is public, and the
// private-key checks are a safety net, not a substitute for keeping keys
// out of the served tree. Whoever can write to dir (or swap a symbolic link
// in it) controls what is served. Responses are not compressed and ranges
// and conditional requests follow net/http's ServeContent.
//
// dir is made absolute once, and opened afresh for every request, so that
// a repository published by atomically replacing dir (or a symbolic link
// naming it) is seen at once.
//
// When log is non-nil, one line per request is written to it, each with a
// single Write: time, remote address, method, escaped path, status, body
// bytes sent and duration. The handler is safe for concurrent use; writes
// to log are serialized.
func Handler(dir string, log io.Writer) (http.Handler, error) {
	if log != nil {
		log = &lockedLog{w: log}
	}
	return newRepoHandler(dir, log)
}

func newRepoHandler(dir string, log io.Writer) (*repoHandler, error) {
	if dir == "" {
		return nil, errors.New("repotool: serve: no repository directory given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("repotool: serve: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("repotool: serve: %s is not a directory: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("repotool: serve: %s is not a directory", dir)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("repotool: serve: %w", err)
	}
	root.Close()
	return &repoHandler{dir: abs, log: log}, nil
}

type repoHandler struct {
	dir string    // absolute; may itself be or contain symbolic links
	log io.Writer // nil, or safe for concurrent use
}

func (h *repoHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &countingWriter{ResponseWriter: w, rc: http.NewResponseController(w)}
	h.serve(sw, r)
	if h.log != nil {
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		// EscapedPath percent-encodes control characters, so a request
		// cannot forge log lines; net/http has already refused methods
		// that are not tokens.
		fmt.Fprintf(h.log, "%s %s %s %s %d %d %s\n",
			start.UTC().Format(time.RFC3339), r.RemoteAddr, r.Method,
			r.URL.EscapedPath(), status, sw.bytes, time.Since(start).Round(time.Microsecond))
	}
}

func (h *repoHandler) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := cleanRequestPath(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	f, fi, err := h.open(name)
	if err != nil {
		if errors.Is(err, errRepoUnavailable) {
			http.Error(w, "500 internal server error", http.StatusInternalServerError)
			return
		}
		http.NotFound(w, r)
		return
	}
	defer f.Close()

	hdr := w.Header()
	if strings.EqualFold(path.Ext(name), ".json") {
		hdr.Set("Content-Type", "application/json")
		// Metadata changes in place (root.json, channels) and must be
		// revalidated; stale copies would delay updates and rotations.
		hdr.Set("Cache-Control", "no-cache")
	} else {
		hdr.Set("Content-Type", "application/octet-stream")
		// Payloads are checked against the hash in signed metadata, so a
		// stale cached copy can only fail verification, never pass it.
		hdr.Set("Cache-Control", "public, max-age=3600")
	}
	hdr.Set("ETag", fmt.Sprintf(`"%x-%x"`, fi.Size(), fi.ModTime().UnixNano()))
	http.ServeContent(w, r, path.Base(name), fi.ModTime(), f)
}

// errRepoUnavailable reports that the repository directory itself could not
// be opened; every other failure to open a file is a plain 404.
var errRepoUnavailable = errors.New("repository unavailable")

// open opens the regular file name (slash-separated, relative, already
// checked by cleanRequestPath) inside h.dir.
func (h *repoHandler) open(name string) (*os.File, fs.FileInfo, error) {
	realDir, err := filepath.EvalSymlinks(h.dir)
	if err != nil {
		return nil, nil, errRepoUnavailable
	}
	// Resolve symbolic links to apply the name rules to the file actually
	// served. The result is only a name: containment is os.Root's job, so
	// a link changed after this point still cannot lead outside.
	resolved, err := filepath.EvalSymlinks(filepath.Join(realDir, filepath.FromSlash(name)))
	if err != nil {
		return nil, nil, err
	}
	rel, err := filepath.Rel(realDir, resolved)
	if err != nil || !filepath.IsLocal(rel) {
		return nil, nil, fs.ErrNotExist
	}
	rel = filepath.ToSlash(rel)
	if _, ok := cleanRequestPath("/" + rel); !ok {
		return nil, nil, fs.ErrNotExist
	}

	root, err := os.OpenRoot(realDir)
	if err != nil {
		return nil, nil, errRepoUnavailable
	}
	defer root.Close()
	// Stat first: opening a FIFO for reading would block until a writer
	// comes, holding the request forever.
	fi, err := root.Stat(rel)
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fs.ErrNotExist
	}
	f, err := root.Open(rel)
	if err != nil {
		return nil, nil, err
	}
	ffi, err := f.Stat()
	if err != nil || !ffi.Mode().IsRegular() || !os.SameFile(fi, ffi) {
		f.Close()
		return nil, nil, fs.ErrNotExist
	}
	if looksLikePrivateKey(f) {
		f.Close()
		return nil, nil, fs.ErrNotExist
	}
	return f, ffi, nil
}

// cleanRequestPath turns a URL path into a slash-separated name relative to
// the repository root, or reports false if the path must not be served.
// It never cleans: a path that is not already clean is refused, so that
// what is checked is exactly what is opened.
func cleanRequestPath(p string) (string, bool) {
	name, ok := strings.CutPrefix(p, "/")
	if !ok || !fs.ValidPath(name) || name == "." {
		return "", false
	}
	for seg := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(seg, ".") ||
			strings.HasSuffix(seg, ".") || strings.HasSuffix(seg, " ") ||
			strings.ContainsAny(seg, `\:~`) {
			return "", false
		}
		for _, c := range []byte(seg) {
			if c < 0x20 || c == 0x7f {
				return "", false
			}
		}
	}
	if strings.HasSuffix(strings.ToLower(name), ".key") {
		return "", false
	}
	return name, true
}

// looksLikePrivateKey reports whether the start of f holds a PEM private key
// (PKCS#8, SEC 1, PKCS#1, OpenSSH, PGP) or an age-encrypted file, which is
// how this project stores private keys.
func looksLikePrivateKey(f *os.File) bool {
	buf := make([]byte, servePEMProbe)
	n, _ := f.ReadAt(buf, 0)
	head := buf[:n]
	return (bytes.Contains(head, []byte("-----BEGIN ")) && bytes.Contains(head, []byte("PRIVATE KEY"))) ||
		bytes.Contains(head, []byte("-----BEGIN AGE ENCRYPTED FILE-----"))
}

// countingWriter records the status and body size for the request log, and
// extends the write deadline on every write (see serveWriteStall). It does
// not implement io.ReaderFrom on purpose: ServeContent then copies in
// chunks through Write, so each chunk renews the deadline.
type countingWriter struct {
	http.ResponseWriter
	rc     *http.ResponseController
	status int
	bytes  int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	// Not every ResponseWriter supports deadlines (httptest's recorder,
	// some wrappers); without one the server's own timeouts still apply.
	_ = w.rc.SetWriteDeadline(time.Now().Add(serveWriteStall))
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// lockedLog serializes writes, so that log lines from concurrent requests
// do not interleave.
type lockedLog struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// ServeConfig configures Serve.
type ServeConfig struct {
	// Dir is the repository root. Required; it must be a directory.
	Dir string
	// Addr is the host:port to listen on; "" means "127.0.0.1:8080", so the
	// repository is not exposed to the network unless asked. Port 0 picks
	// a free port, which the ready line reports.
	Addr string
	// TLSCert and TLSKey are PEM files; given together, Serve speaks HTTPS
	// (TLS 1.2 or later) instead of HTTP. Giving only one is an error.
	TLSCert string
	TLSKey  string
	// Log receives one line per request (see Handler) and the server's own
	// errors, such as failed TLS handshakes. Nil discards both.
	Log io.Writer
}

// Serve serves the repository cfg.Dir read-only over HTTP or HTTPS until ctx
// is cancelled. See Handler for what is and is not served: in short, the
// files of the repository as they are, unverified; clients must verify
// signatures.
//
// Once listening, Serve writes exactly one line to ready (nil discards it),
// "serving DIR at URL\n", where DIR is cfg.Dir as given and URL carries the
// scheme and the actual address, port included. Errors in the
// configuration, the directory, the TLS files or the listen address are
// returned before that line.
//
// When ctx is cancelled, Serve stops accepting connections, lets requests in
// flight finish for up to 5 seconds, cuts the rest, and returns nil. Any
// other return is an error prefixed "repotool: serve: ".
func Serve(ctx context.Context, cfg ServeConfig, ready io.Writer) error {
	if cfg.Dir == "" {
		return errors.New("repotool: serve: no repository directory given")
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return errors.New("repotool: serve: TLS needs both a certificate and a key file")
	}
	var logw io.Writer // shared by the request log and ErrorLog
	errLog := io.Discard
	if cfg.Log != nil {
		logw = &lockedLog{w: cfg.Log}
		errLog = logw
	}
	h, err := newRepoHandler(cfg.Dir, logw)
	if err != nil {
		return err
	}

	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: serveReadHeaderTimeout,
		ReadTimeout:       serveReadTimeout,
		IdleTimeout:       serveIdleTimeout,
		// No WriteTimeout: it would cut long downloads. The handler bounds
		// stalls instead (serveWriteStall).
		MaxHeaderBytes: serveMaxHeaderBytes,
		ErrorLog:       log.New(errLog, "repotool: serve: ", 0),
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("repotool: serve: loading TLS certificate: %w", err)
		}
		srv.TLSConfig = &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cert},
		}
		scheme = "https"
	}

	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("repotool: serve: %w", err)
	}
	if ready == nil {
		ready = io.Discard
	}
	if _, err := fmt.Fprintf(ready, "serving %s at %s://%s\n", cfg.Dir, scheme, ln.Addr()); err != nil {
		ln.Close()
		return fmt.Errorf("repotool: serve: %w", err)
	}

	served := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-served:
		return fmt.Errorf("repotool: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), serveShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Downloads outlived the grace period; cutting them is what
		// cancelling asked for, so it is not an error.
		srv.Close()
	}
	<-served
	return nil
}
