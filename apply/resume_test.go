package apply_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply"
)

// cutServer serves a payload with http.ServeContent (so Range works) and
// cuts connections: the first cuts responses are cut after cutAfter bytes of
// their body (every response when cuts < 0), by hijacking the connection and
// closing it.
type cutServer struct {
	data     []byte
	resumed  []byte // served to requests with a Range header, if not nil
	cutAfter int64
	cuts     int
	noRange  bool // ignore Range headers: always 200 with the whole file
	// stallResumed cuts every response to a Range request before its
	// first body byte.
	stallResumed bool

	mu     sync.Mutex
	ranges []string // the Range header of each request
	served int64    // body bytes written, in all
}

var errCut = errors.New("connection cut by the test server")

func (s *cutServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	s.mu.Lock()
	s.ranges = append(s.ranges, req.Header.Get("Range"))
	n := len(s.ranges)
	s.mu.Unlock()
	data := s.data
	if s.resumed != nil && req.Header.Get("Range") != "" {
		data = s.resumed
	}
	if s.noRange {
		req.Header.Del("Range")
	}
	cw := &cutWriter{ResponseWriter: w, s: s, left: -1}
	if s.cuts < 0 || n <= s.cuts {
		cw.left = s.cutAfter
	}
	if s.stallResumed && req.Header.Get("Range") != "" {
		cw.left = 0
	}
	http.ServeContent(cw, req, "app", time.Time{}, bytes.NewReader(data))
}

func (s *cutServer) requests() ([]string, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...), s.served
}

// cutWriter passes left body bytes on, then flushes them and closes the
// connection under the client; left < 0 means no cut.
type cutWriter struct {
	http.ResponseWriter
	s    *cutServer
	left int64
	cut  bool
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if c.cut {
		return 0, errCut
	}
	if c.left >= 0 && int64(len(p)) >= c.left {
		n, _ := c.ResponseWriter.Write(p[:c.left])
		c.count(n)
		rc := http.NewResponseController(c.ResponseWriter)
		if err := rc.Flush(); err != nil {
			return n, err
		}
		conn, _, err := rc.Hijack()
		if err != nil {
			return n, err
		}
		conn.Close()
		c.cut = true
		return n, errCut
	}
	n, err := c.ResponseWriter.Write(p)
	c.count(n)
	if c.left >= 0 {
		c.left -= int64(n)
	}
	return n, err
}

func (c *cutWriter) count(n int) {
	c.s.mu.Lock()
	c.s.served += int64(n)
	c.s.mu.Unlock()
}

// bigFixture is a fixture whose 2.0.0 payload is a few hundred KiB, so
// that a cut falls well inside it.
func bigFixture(t *testing.T) (*fixture, []byte) {
	t.Helper()
	f := newFixture(t)
	f.bin = binary("2.0.0", 1<<20)
	f.rel = f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin, f.key)
	z, err := compressBzip2(f.bin)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(z)) != f.rel.CompressedSize {
		t.Fatal("bzip2 is not deterministic")
	}
	return f, z
}

const payloadURLPath = "/2.0.0/linux/amd64/app.bz2"

func TestSurvivesConnectionCutMidPayload(t *testing.T) {
	f, z := bigFixture(t)
	for _, cut := range []int64{1, 100 << 10, int64(len(z)) / 2, int64(len(z)) - 1} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			if err := os.WriteFile(f.target, f.old, 0o755); err != nil {
				t.Fatal(err)
			}
			s := &cutServer{data: z, cutAfter: cut, cuts: 1}
			f.repo.handle(payloadURLPath, s.ServeHTTP)
			if err := apply.Apply(t.Context(), f.opts()...); err != nil {
				t.Fatal(err)
			}
			wantFile(t, f.target, f.bin)
			ranges, served := s.requests()
			if want := []string{"", fmt.Sprintf("bytes=%d-", cut)}; fmt.Sprint(ranges) != fmt.Sprint(want) {
				t.Errorf("Range headers %q, want %q", ranges, want)
			}
			if served != int64(len(z)) {
				t.Errorf("served %d bytes in all, want the payload's %d once", served, len(z))
			}
		})
	}
}

// TestRejectsSplicedResume: a server that sends other bytes on the resumed
// range is caught by the compressed hash, whatever it decodes to.
func TestRejectsSplicedResume(t *testing.T) {
	f, z := bigFixture(t)
	cut := int64(len(z)) / 2
	other := bytes.Clone(z)
	other[cut+1000] ^= 1
	s := &cutServer{data: z, resumed: other, cutAfter: cut, cuts: 1}
	f.repo.handle(payloadURLPath, s.ServeHTTP)
	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.opts()...)
	// The compressed hash, not only a decoder's CRC or the binary's hash.
	if !errors.Is(err, apply.ErrChecksum) || !strings.Contains(err.Error(), ".bz2 has sha256") {
		t.Fatalf("got %v, want ErrChecksum for the compressed hash", err)
	}
	sameDir(t, f.dir, before)
	if ranges, _ := s.requests(); len(ranges) != 2 {
		t.Errorf("Range headers %q, want one resumption", ranges)
	}
}

func TestResumeGivesUpAfterRepeatedCuts(t *testing.T) {
	// Every resumption receives nothing: the download gives up after
	// five of them in a row.
	f, z := bigFixture(t)
	s := &cutServer{data: z, cutAfter: 10 << 10, cuts: 1, stallResumed: true}
	f.repo.handle(payloadURLPath, s.ServeHTTP)
	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.opts()...)
	if err == nil || errors.Is(err, apply.ErrChecksum) || !strings.Contains(err.Error(), "giving up after the stream failed 6 times, at byte 10240") {
		t.Fatalf("got %v, want giving up after 6 failures at byte 10240", err)
	}
	sameDir(t, f.dir, before)
	ranges, _ := s.requests()
	want := []string{""}
	for range 5 {
		want = append(want, "bytes=10240-")
	}
	if fmt.Sprint(ranges) != fmt.Sprint(want) {
		t.Errorf("Range headers %q, want %q", ranges, want)
	}
}

func TestResumeIsBoundedInAll(t *testing.T) {
	// Every response is cut after a hundredth of the payload: each
	// resumption makes progress, but a download is resumed at most 64
	// times in all.
	f, z := bigFixture(t)
	piece := int64(len(z)) / 100
	s := &cutServer{data: z, cutAfter: piece, cuts: -1}
	f.repo.handle(payloadURLPath, s.ServeHTTP)
	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.opts()...)
	if err == nil || !strings.Contains(err.Error(), "giving up after the stream failed 65 times") {
		t.Fatalf("got %v, want giving up after 65 failures", err)
	}
	sameDir(t, f.dir, before)
	ranges, _ := s.requests()
	want := []string{""}
	for i := int64(1); i <= 64; i++ {
		want = append(want, fmt.Sprintf("bytes=%d-", i*piece))
	}
	if fmt.Sprint(ranges) != fmt.Sprint(want) {
		t.Errorf("Range headers %q, want %q", ranges, want)
	}
}

func TestSurvivesManyCutsWithProgress(t *testing.T) {
	// A flaky link that drops every twentieth of the payload still delivers the update,
	// as long as each resumption makes progress.
	f, z := bigFixture(t)
	piece := len(z) / 20
	s := &cutServer{data: z, cutAfter: int64(piece), cuts: -1}
	f.repo.handle(payloadURLPath, s.ServeHTTP)
	if err := apply.Apply(t.Context(), f.opts()...); err != nil {
		t.Fatal(err)
	}
	ranges, served := s.requests()
	if want := (len(z) + piece - 1) / piece; len(ranges) != want {
		t.Errorf("%d requests, want %d", len(ranges), want)
	}
	if served != int64(len(z)) {
		t.Errorf("served %d bytes, want %d", served, len(z))
	}
}

func TestResumeStopsWithoutRangeSupport(t *testing.T) {
	f, z := bigFixture(t)
	s := &cutServer{data: z, cutAfter: 50 << 10, cuts: 1, noRange: true}
	f.repo.handle(payloadURLPath, s.ServeHTTP)
	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.opts()...)
	if !errors.Is(err, apply.ErrRangeUnsupported) || !strings.Contains(err.Error(), "cannot resume at byte 51200") {
		t.Fatalf("got %v, want ErrRangeUnsupported at byte 51200", err)
	}
	sameDir(t, f.dir, before)
	if ranges, _ := s.requests(); len(ranges) != 2 {
		t.Errorf("Range headers %q, want one attempt to resume", ranges)
	}
}

// failingSource is a DirSource whose payload stream fails after failAfter
// bytes the first time it is opened, as a disk or network file system can.
type failingSource struct {
	apply.Source
	failAfter int64

	mu      sync.Mutex
	offsets []int64 // of every payload Open
}

func (s *failingSource) Open(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	rc, err := s.Source.Open(ctx, path, offset)
	if err != nil || !strings.HasSuffix(path, ".bz2") {
		return rc, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offsets = append(s.offsets, offset)
	if len(s.offsets) > 1 {
		return rc, nil
	}
	return &failingReader{rc: rc, left: s.failAfter}, nil
}

type failingReader struct {
	rc   io.ReadCloser
	left int64
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, errors.New("read /repo/app.bz2: input/output error")
	}
	n, err := r.rc.Read(p[:min(int64(len(p)), r.left)])
	r.left -= int64(n)
	return n, err
}

func (r *failingReader) Close() error { return r.rc.Close() }

func TestSurvivesReadErrorInDirSource(t *testing.T) {
	f, _ := bigFixture(t)
	dir, err := apply.DirSource(f.repo.dir)
	if err != nil {
		t.Fatal(err)
	}
	src := &failingSource{Source: dir, failAfter: 123456}
	if err := apply.Apply(t.Context(), f.optsFrom(apply.WithSource(src))...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)
	if fmt.Sprint(src.offsets) != "[0 123456]" {
		t.Errorf("payload opened at offsets %v, want [0 123456]", src.offsets)
	}
}

// TestRejectsStallOnResume: the stall timeout still holds for a resumed
// stream: a server that cuts the connection and then never answers the
// resumption cannot hold Apply.
func TestRejectsStallOnResume(t *testing.T) {
	f, z := bigFixture(t)
	s := &cutServer{data: z, cutAfter: 50 << 10, cuts: 1}
	f.repo.handle(payloadURLPath, func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Range") == "" {
			s.ServeHTTP(w, req)
			return
		}
		<-req.Context().Done()
	})
	start := time.Now()
	err := apply.Apply(t.Context(), f.opts(apply.StallTimeout(300*time.Millisecond))...)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no data received") {
		t.Fatalf("got %v, want the stall error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %v, want about the stall timeout", d)
	}
}
