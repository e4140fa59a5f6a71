package apply_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply"
)

func TestSurvivesServerErrors(t *testing.T) {
	const (
		meta    = "/2.0.0/linux/amd64/release.json"
		payload = "/2.0.0/linux/amd64/app.bz2"
	)
	hijackClose := func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		conn.Close()
	}
	tests := []struct {
		name    string
		path    string
		handler func(t *testing.T, f *fixture) http.HandlerFunc
		want    error  // sentinel, or nil for none
		message string // in the error
	}{
		{"release.json 404", meta, func(*testing.T, *fixture) http.HandlerFunc { return http.NotFound }, apply.ErrNotFound, "404"},
		{"payload 404", payload, func(*testing.T, *fixture) http.HandlerFunc { return http.NotFound }, apply.ErrNotFound, "404"},
		{"release.json 403", meta, status(403), apply.ErrForbidden, "403 Forbidden"},
		{"payload 403", payload, status(403), apply.ErrForbidden, "403 Forbidden"},
		{"release.json 500", meta, status(500), nil, "500 Internal Server Error"},
		{"payload 503", payload, status(503), nil, "503 Service Unavailable"},
		{"payload 204", payload, status(204), nil, "204"},
		{"release.json reset", meta, func(*testing.T, *fixture) http.HandlerFunc { return hijackClose }, nil, "EOF"},
		{"payload reset", payload, func(*testing.T, *fixture) http.HandlerFunc { return hijackClose }, nil, "EOF"},
		{"payload reset midway", payload, func(t *testing.T, f *fixture) http.HandlerFunc {
			z := readRepoFile(t, f, "2.0.0/linux/amd64/app.bz2")
			return func(w http.ResponseWriter, r *http.Request) {
				conn, buf, err := http.NewResponseController(w).Hijack()
				if err != nil {
					panic(err)
				}
				buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(z)) + "\r\n\r\n")
				buf.Write(z[:len(z)/2])
				buf.Flush()
				conn.Close()
			}
		}, nil, "unexpected EOF"},
		{"payload truncated", payload, func(t *testing.T, f *fixture) http.HandlerFunc {
			z := readRepoFile(t, f, "2.0.0/linux/amd64/app.bz2")
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(z)+1000))
				w.Write(z[:len(z)-1])
			}
		}, nil, "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.repo.handle(tt.path, tt.handler(t, f))
			before := listDir(t, f.dir)
			err := apply.Apply(t.Context(), f.opts()...)
			if err == nil {
				t.Fatal("Apply succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "apply: ") || !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not say %q", err, tt.message)
			}
			sameDir(t, f.dir, before)
		})
	}
}

func status(code int) func(*testing.T, *fixture) http.HandlerFunc {
	return func(*testing.T, *fixture) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
	}
}

// stall answers with headers and a few bytes, then sends nothing until the
// client goes away; it reports on gone when the client did.
func stall(gone chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.Write([]byte("BZh9"))
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
		gone <- struct{}{}
	}
}

func TestSurvivesStalledServer(t *testing.T) {
	for _, path := range []string{"/2.0.0/linux/amd64/release.json", "/2.0.0/linux/amd64/app.bz2"} {
		t.Run("ctx cancelled"+path, func(t *testing.T) {
			f := newFixture(t)
			gone := make(chan struct{}, 1)
			f.repo.handle(path, stall(gone))
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(200*time.Millisecond, cancel)
			before := listDir(t, f.dir)
			start := time.Now()
			err := apply.Apply(ctx, f.opts(apply.StallTimeout(time.Hour))...)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("got %v, want context.Canceled", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Apply returned %v after the cancel", d)
			}
			waitGone(t, gone)
			sameDir(t, f.dir, before)
		})
		t.Run("stall timeout"+path, func(t *testing.T) {
			f := newFixture(t)
			gone := make(chan struct{}, 1)
			f.repo.handle(path, stall(gone))
			before := listDir(t, f.dir)
			start := time.Now()
			// No deadline on the context: the stall timeout alone must end it.
			err := apply.Apply(context.Background(), f.opts(apply.StallTimeout(200*time.Millisecond))...)
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no data received for 200ms") {
				t.Errorf("got %v, want a stall error", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Apply returned after %v, stall timeout 200ms", d)
			}
			waitGone(t, gone)
			sameDir(t, f.dir, before)
		})
	}
}

func TestSurvivesServerSilentBeforeHeaders(t *testing.T) {
	f := newFixture(t)
	f.repo.handle("/2.0.0/linux/amd64/app.bz2", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	before := listDir(t, f.dir)
	err := apply.Apply(context.Background(), f.opts(apply.StallTimeout(200*time.Millisecond))...)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want a stall error", err)
	}
	sameDir(t, f.dir, before)
}

func TestSurvivesSlowButSteadyServer(t *testing.T) {
	f := newFixture(t)
	z := readRepoFile(t, f, "2.0.0/linux/amd64/app.bz2")
	f.repo.handle("/2.0.0/linux/amd64/app.bz2", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(z)))
		// Each pause is under the stall timeout, the whole transfer over it.
		for i := 0; i < len(z); i += len(z)/6 + 1 {
			w.Write(z[i:min(len(z), i+len(z)/6+1)])
			http.NewResponseController(w).Flush()
			time.Sleep(150 * time.Millisecond)
		}
	})
	// The stall timeout is well above each pause so that a loaded CI
	// machine's scheduling delays cannot turn a pause into a stall.
	if err := apply.Apply(context.Background(), f.opts(apply.StallTimeout(600*time.Millisecond))...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)
}

func waitGone(t *testing.T, gone <-chan struct{}) {
	t.Helper()
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Error("the client did not hang up on the stalled server")
	}
}

// TestSurvivesCutAfterLastByte: a server that promises more than the
// signed size and drops the connection after sending all of it has still
// delivered the whole payload; the hashes decide, and no range past the
// end is asked for.
func TestSurvivesCutAfterLastByte(t *testing.T) {
	f := newFixture(t)
	z := readRepoFile(t, f, "2.0.0/linux/amd64/app.bz2")
	var requests atomic.Int32
	f.repo.handle("/2.0.0/linux/amd64/app.bz2", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Length", strconv.Itoa(len(z)+1000))
		w.Write(z)
	})
	if err := apply.Apply(t.Context(), f.opts()...); err != nil {
		t.Fatal(err)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("%d payload requests, want 1", n)
	}
}
