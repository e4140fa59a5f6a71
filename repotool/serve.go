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
	"math"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/safeupdate/safeupdate/internal/localfile"
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

	// serveWritePiece is how much of a file is sent under one write
	// deadline (see countingWriter.ReadFrom): a client must take this much
	// per serveWriteStall or be cut. In practice it must take more: the
	// kernel wakes a blocked send only once about a third of the socket
	// send buffer has drained, so with Linux's default 4 MiB tcp_wmem
	// ceiling a client below roughly 22 KiB/s can be cut. Larger pieces
	// would save little: each costs one more sendfile(2) call and deadline.
	serveWritePiece = 256 << 10

	// serveMaxHeaderBytes bounds the request line and headers together.
	serveMaxHeaderBytes = 16 << 10

	// serveShutdownTimeout bounds the graceful shutdown once the context is
	// cancelled; downloads still running after it are cut.
	serveShutdownTimeout = 5 * time.Second

	// serveLogDelay is how late a request's log line may be written, and
	// serveLogBatch how many bytes of lines are written at once at most
	// (see batchedLog).
	serveLogDelay = 100 * time.Millisecond
	serveLogBatch = 64 << 10

	// servePrivateKeyChunk is how much of a file is looked at at once for
	// a private key (see privateKeyIn): every file is read whole before it
	// is served, through a buffer of this size.
	servePrivateKeyChunk = 64 << 10

	// serveDERKeyMax is the largest file tried as a DER private key: an
	// RSA key of 16384 bits, the largest anyone makes, is under 10 KiB.
	serveDERKeyMax = 16 << 10
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
//     (case-insensitively) and, whatever its name, any file that holds,
//     anywhere, a PEM block whose type contains PRIVATE KEY or the armor of
//     an age-encrypted file (how keygen stores keys), that is a binary age
//     file, or that is a DER private key (PKCS#8, SEC 1, PKCS#1). Every
//     file is read to its end for this before any of it is served, with a
//     fixed buffer; one that cannot be read to the end is a 500.
//
// What is NOT protected: anything else placed in dir is public, and the
// private-key checks are a safety net, not a substitute for keeping keys
// out of the served tree. Whoever can write to dir (or swap a symbolic link
// in it) controls what is served. Responses are not compressed and ranges
// and conditional requests follow net/http's ServeContent.
//
// dir is made absolute once, and opened afresh for every request that is
// not served from memory, so that a repository published by atomically
// replacing dir (or a symbolic link naming it) is seen at once (within a
// second for files served from memory, see below).
//
// Small files (metadata: up to 64 KiB each, 8 MiB in all) that have been
// left unchanged for a second are served from memory, on Linux, macOS,
// FreeBSD and NetBSD (not on Windows). A file served from memory is looked
// at on disk again at most once a second: opening it through every check
// above must find the very same file (device and inode) with the same size,
// modification and change time, or it is read and checked afresh. So a change on disk, a swapped repository directory included,
// is served within a second; until then the previous bytes, which passed
// every check above, are served, never new ones unchecked (a file swapped
// for a private key or a link out of dir is refused once looked at). Not
// protected: file systems that do not update change times, or that cache
// attributes (NFS), can delay a change for longer.
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
	h := &repoHandler{
		dir: abs, log: log, stall: serveWriteStall,
		settle: serveCacheSettle, recheck: serveCacheRecheck,
	}
	if serveCacheSupported {
		h.cache = newServeCache()
		h.vetted = &vetted{}
	}
	return h, nil
}

type repoHandler struct {
	dir     string        // absolute; may itself be or contain symbolic links
	log     io.Writer     // nil, or safe for concurrent use
	stall   time.Duration // serveWriteStall; shorter in tests
	settle  time.Duration // serveCacheSettle; shorter in tests
	recheck time.Duration // serveCacheRecheck; shorter in tests
	cache   *serveCache   // nil where the platform cannot validate entries
	vetted  *vetted       // nil where the platform cannot validate entries
}

func (h *repoHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &countingWriter{ResponseWriter: w, stall: h.stall}
	if d, ok := w.(writeDeadliner); ok {
		sw.dl = d // net/http's own writer: no ResponseController to allocate
	} else {
		sw.dl = http.NewResponseController(w)
	}
	// Up front as well: a response without a body (HEAD, 304) never calls
	// Write, and net/http clears the deadline between requests, so its
	// headers would otherwise be written with no bound at all.
	sw.renewDeadline()
	h.serve(sw, r, start)
	if h.log != nil {
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		// EscapedPath percent-encodes control characters, so a request
		// cannot forge log lines; net/http has already refused methods
		// that are not tokens. Appended rather than formatted with fmt:
		// this runs for every request, and a cached one costs little else.
		b := make([]byte, 0, 128)
		b = start.UTC().AppendFormat(b, time.RFC3339)
		b = append(append(b, ' '), r.RemoteAddr...)
		b = append(append(b, ' '), r.Method...)
		b = append(append(b, ' '), r.URL.EscapedPath()...)
		b = strconv.AppendInt(append(b, ' '), int64(status), 10)
		b = strconv.AppendInt(append(b, ' '), sw.bytes, 10)
		b = append(append(b, ' '), time.Since(start).Round(time.Microsecond).String()...)
		h.log.Write(append(b, '\n'))
	}
}

func (h *repoHandler) serve(w http.ResponseWriter, r *http.Request, now time.Time) {
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
	if h.cache != nil {
		if e := h.cache.lookup(name, now, h.recheck, h.version); e != nil {
			serveFromCache(w, r, e)
			return
		}
	}
	f, fi, err := h.open(name)
	if err != nil {
		if h.cache != nil {
			h.cache.drop(name)
		}
		if errors.Is(err, errRepoUnavailable) {
			http.Error(w, "500 internal server error", http.StatusInternalServerError)
			return
		}
		http.NotFound(w, r)
		return
	}
	defer f.Close()

	if h.cache != nil {
		if data, ver, ok := readSmall(f, fi, h.settle); ok {
			if refuseKey(w, r, bytes.NewReader(data)) {
				h.cache.drop(name)
				return
			}
			e := newServeEntry(name, data, ver, fi.ModTime(), now)
			h.cache.store(e)
			serveFromCache(w, r, e)
			return
		}
		// Changed, too young or too large: served from the file. An
		// entry for an older version would never match again; free it.
		h.cache.drop(name)
	}
	// To the end, not to fi.Size(): bytes appended since are served too.
	// A version already found clean is not read again.
	if h.vetted == nil || !h.vetted.has(fi) {
		if refuseKey(w, r, io.NewSectionReader(f, 0, math.MaxInt64)) {
			return
		}
		if h.vetted != nil {
			h.vetted.add(f, fi, h.settle)
		}
	}
	setFileHeaders(w.Header(), name, fi.Size(), fi.ModTime())
	http.ServeContent(w, r, path.Base(name), fi.ModTime(), f)
}

// version returns the version of the file name leads to, opened through
// every check of open; the private-key check is on content, which an
// unchanged version has not changed.
func (h *repoHandler) version(name string) (fileVersion, bool) {
	f, fi, err := h.open(name)
	if err != nil {
		return fileVersion{}, false
	}
	f.Close()
	return versionOf(fi)
}

// setFileHeaders sets the headers that depend on the file name and version.
func setFileHeaders(hdr http.Header, name string, size int64, modTime time.Time) {
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
	hdr.Set("ETag", fmt.Sprintf(`"%x-%x"`, size, modTime.UnixNano()))
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
	// Examined first: opening a FIFO for reading would block until a
	// writer comes, holding the request forever.
	f, fi, err := localfile.OpenIn(root, rel)
	if errors.Is(err, localfile.ErrNotRegular) {
		return nil, nil, fs.ErrNotExist
	}
	return f, fi, err
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

// refuseKey answers r with 404 and reports true when the file content
// holds a private key (see privateKeyIn), or with 500 when it could not be
// read to the end to tell.
func refuseKey(w http.ResponseWriter, r *http.Request, content io.Reader) bool {
	key, err := privateKeyIn(content)
	switch {
	case err != nil:
		http.Error(w, "500 internal server error", http.StatusInternalServerError)
		return true
	case key:
		http.NotFound(w, r)
		return true
	}
	return false
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
	// errors, such as failed TLS handshakes. Nil discards both. Lines are
	// written in batches, at most 100 ms late, and all of them by the time
	// Serve returns.
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
		bl := &batchedLog{w: cfg.Log}
		defer bl.close()
		logw, errLog = bl, bl
	}
	h, err := newRepoHandler(cfg.Dir, logw)
	if err != nil {
		return err
	}

	// Handlers log when they end; the request log is closed only once
	// the last one has, which http.Server.Close does not wait for.
	var mu sync.Mutex
	running := 0
	idle := sync.NewCond(&mu)
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		running++
		mu.Unlock()
		defer func() {
			mu.Lock()
			if running--; running == 0 {
				idle.Broadcast()
			}
			mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	})
	srv := &http.Server{
		Handler:           counted,
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
	// Their connections are closed, so the handlers still running end at
	// their next write.
	mu.Lock()
	for running > 0 {
		idle.Wait()
	}
	mu.Unlock()
	return nil
}
