package reader

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Bounds on what an HTTP repository may send before any byte is verified.
// They belong with the others in internal/limits.
const (
	// responseHeaderLimit bounds a response's status line and headers.
	responseHeaderLimit = 64 << 10
	// redirectLimit bounds how many redirects one request follows.
	redirectLimit = 10
)

type httpSource struct {
	base   *url.URL
	client *http.Client
}

// HTTP returns a Source reading the repository at base, an http:// or
// https:// URL, with c (nil means a default client). c is not modified;
// requests go through a copy of it that:
//
//   - sends no cookies (its Jar is dropped);
//   - refuses a redirect that changes the scheme, https to http above all,
//     and stops after a few redirects;
//   - when c's Transport is an *http.Transport (or nil), bounds response
//     headers and asks for no transparent compression, on a clone of it.
//
// Only status 200 (206 for a resumed read) is success; 404 is an error
// wrapping ErrNotFound, 403 one wrapping ErrForbidden, any other status an
// error naming it. HTTP does not bound bodies or time: Metadata and Payload
// do.
func HTTP(base string, c *http.Client) (Source, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("repository URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("repository URL %q: want http://HOST/... or https://HOST/...", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("repository URL %q: no query or fragment allowed", u.Redacted())
	}
	return &httpSource{base: u, client: safeClient(c)}, nil
}

// safeClient returns a copy of c with the policy HTTP documents.
func safeClient(c *http.Client) *http.Client {
	var rt http.RoundTripper
	out := &http.Client{}
	var userCheck func(*http.Request, []*http.Request) error
	if c != nil {
		rt, out.Timeout, userCheck = c.Transport, c.Timeout, c.CheckRedirect
	}
	if rt == nil {
		rt = http.DefaultTransport
	}
	if t, ok := rt.(*http.Transport); ok {
		t = t.Clone()
		if t.MaxResponseHeaderBytes <= 0 || t.MaxResponseHeaderBytes > responseHeaderLimit {
			t.MaxResponseHeaderBytes = responseHeaderLimit
		}
		t.DisableCompression = true
		rt = t
	}
	out.Transport = rt
	out.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= redirectLimit {
			return fmt.Errorf("stopped after %d redirects", redirectLimit)
		}
		prev := via[len(via)-1].URL
		if req.URL.Scheme != prev.Scheme {
			return fmt.Errorf("refusing a redirect from %s to %s: it changes the scheme", prev.Redacted(), req.URL.Redacted())
		}
		if userCheck != nil {
			return userCheck(req, via)
		}
		return nil
	}
	return out
}

// CloseIdleConnections closes the connections the source keeps open.
func (s *httpSource) CloseIdleConnections() { s.client.CloseIdleConnections() }

func (s *httpSource) Open(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	if err := CheckPath(path, offset); err != nil {
		return nil, err
	}
	u := s.base.JoinPath(strings.Split(path, "/")...)
	where := u.Redacted()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err // *url.Error: names the URL, without a password
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		resp.Body.Close()
		return nil, fmt.Errorf("%w: GET %s: %s", ErrNotFound, where, resp.Status)
	case resp.StatusCode == http.StatusForbidden:
		resp.Body.Close()
		return nil, fmt.Errorf("%w: GET %s: %s", ErrForbidden, where, resp.Status)
	case offset == 0 && resp.StatusCode == http.StatusOK:
		return resp.Body, nil
	case offset > 0 && resp.StatusCode == http.StatusOK:
		resp.Body.Close()
		return nil, fmt.Errorf("%w: GET %s: the server ignored the Range header", ErrRangeUnsupported, where)
	case offset > 0 && resp.StatusCode == http.StatusPartialContent:
		start, ok := contentRangeStart(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			resp.Body.Close()
			return nil, fmt.Errorf("GET %s: asked for bytes from %d, got Content-Range %q", where, offset, resp.Header.Get("Content-Range"))
		}
		return resp.Body, nil
	}
	resp.Body.Close()
	return nil, fmt.Errorf("GET %s: unexpected status %s", where, resp.Status)
}

// contentRangeStart returns the first byte position of a Content-Range
// header of the form "bytes FIRST-LAST/LENGTH".
func contentRangeStart(h string) (int64, bool) {
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(rest, "-")
	if !ok || first == "" || len(first) > 18 || (len(first) > 1 && first[0] == '0') {
		return 0, false
	}
	for _, c := range first {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(first, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}
