package repotool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/safeupdate/safeupdate/internal/limits"
)

// repoReader reads files of a repository by slash-separated path relative
// to its root. Open fails with an error wrapping ErrNotFound when the file
// is absent. Callers bound what they read.
type repoReader interface {
	Open(ctx context.Context, name string) (io.ReadCloser, error)
}

// newRepoReader returns a reader for a directory or an http(s):// URL.
func newRepoReader(repo string, client *http.Client) (repoReader, error) {
	if strings.HasPrefix(repo, "http://") || strings.HasPrefix(repo, "https://") {
		u, err := url.Parse(repo)
		if err != nil {
			return nil, fmt.Errorf("repository URL: %w", err)
		}
		if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("repository URL %q: want http(s)://host/path, without user, query or fragment", repo)
		}
		if client == nil {
			client = &http.Client{Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				ResponseHeaderTimeout: limits.RequestTimeout,
				TLSHandshakeTimeout:   limits.StallTimeout,
			}}
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		u.RawPath = ""
		return &httpReader{base: u, client: client}, nil
	}
	fi, err := os.Stat(repo)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("repository %s: %w", repo, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("repository %s is not a directory", repo)
	}
	return dirReader(repo), nil
}

// dirReader reads a local repository. Files are opened through os.Root, so
// no name or symbolic link can reach outside the directory.
type dirReader string

func (d dirReader) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if !fs.ValidPath(name) {
		return nil, fmt.Errorf("%s: invalid path", name)
	}
	root, err := os.OpenRoot(string(d))
	if err != nil {
		return nil, err
	}
	defer root.Close()
	// Stat first: opening a FIFO would block until a writer comes.
	fi, err := root.Stat(name)
	if err != nil {
		return nil, notFound(name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, notFound(name, err)
	}
	return f, nil
}

func notFound(name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errorf(ErrNotFound, "%s is missing", name)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s: %w", name, err)
}

// httpReader reads a repository served over HTTP(S). The response headers
// must come within limits.RequestTimeout, and a request or body that makes
// no progress for limits.StallTimeout is cut (slow retrieval, see
// stallGuard); sizes are bounded by the caller.
type httpReader struct {
	base   *url.URL
	client *http.Client
}

func (h *httpReader) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if !fs.ValidPath(name) {
		return nil, fmt.Errorf("%s: invalid path", name)
	}
	u := *h.base
	u.Path = path.Join(u.Path, name)
	g := newStallGuard(ctx)
	req, err := http.NewRequestWithContext(g.ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		g.stop()
		return nil, err
	}
	resp, err := h.client.Do(req)
	if err != nil {
		g.stop()
		return nil, &fetchError{err: g.explain(err)}
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		resp.Body.Close()
		g.stop()
		return nil, errorf(ErrNotFound, "%s is missing (HTTP 404)", name)
	case resp.StatusCode != http.StatusOK:
		resp.Body.Close()
		g.stop()
		return nil, fmt.Errorf("%s: HTTP %s", name, resp.Status)
	}
	return g.reader(resp.Body), nil
}

// stallTimeout is limits.StallTimeout; tests shorten it.
var stallTimeout = limits.StallTimeout

// errStalled reports a repository that sent nothing for stallTimeout, while
// asked for a file or in the middle of one (slow retrieval).
var errStalled = errors.New("the repository sent no data for too long (stalled)")

// A stallGuard cancels a read from a repository, the request and its body,
// once it makes no progress for stallTimeout, so that a server or bucket
// that stops sending cannot hold a command forever.
type stallGuard struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	once   sync.Once
}

func newStallGuard(ctx context.Context) *stallGuard {
	g := &stallGuard{}
	g.ctx, g.cancel = context.WithCancelCause(ctx)
	g.timer = time.AfterFunc(stallTimeout, func() { g.cancel(errStalled) })
	return g
}

// explain returns errStalled, with how long, if the guard cut the read
// that failed with err, and err otherwise.
func (g *stallGuard) explain(err error) error {
	if err != nil && errors.Is(context.Cause(g.ctx), errStalled) {
		return fmt.Errorf("%w: nothing for %v", errStalled, stallTimeout)
	}
	return err
}

func (g *stallGuard) stop() {
	g.once.Do(func() { g.timer.Stop(); g.cancel(nil) })
}

// reader returns body, read under the guard: every read that makes
// progress renews the timer, and Close stops it.
func (g *stallGuard) reader(body io.ReadCloser) io.ReadCloser {
	g.timer.Reset(stallTimeout)
	return &stallReader{body: body, g: g}
}

type stallReader struct {
	body io.ReadCloser
	g    *stallGuard
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	if n > 0 {
		s.g.timer.Reset(stallTimeout)
	}
	if err != nil && err != io.EOF {
		err = s.g.explain(err)
	}
	return n, err
}

func (s *stallReader) Close() error {
	err := s.body.Close()
	s.g.stop()
	return err
}

// fetchError reports that a server could not be asked at all (connection,
// TLS, timeout), as opposed to an HTTP error status.
type fetchError struct{ err error }

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }
