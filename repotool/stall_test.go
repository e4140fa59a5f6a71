package repotool

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/internal/reader"
	"github.com/safeupdate/safeupdate/release"
)

// stallingRepo is a repository server on 127.0.0.1 that stops sending:
// a path ending in stall-head.json gets no response at all, one ending in
// stall-body.json or stall-body.bz2 (a payload) the headers and its first
// 100 bytes of 1000. For the S3 case it answers just enough of the
// protocol: the one-key listing that blobrepo.Open makes, and plain
// object GETs and HEADs (path style, /BUCKET/KEY); a listing of a prefix
// starting with "stall" gets no response. A stalled response is held until
// the client goes away, or for a minute at most.
func stallingRepo(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hold := func() {
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
		}
		switch {
		case r.URL.Query().Get("list-type") == "2" && strings.HasPrefix(r.URL.Query().Get("prefix"), "stall"):
			hold()
		case r.URL.Query().Get("list-type") == "2":
			w.Header().Set("Content-Type", "application/xml")
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+
				`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`+
				`<Name>stalling</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1</MaxKeys>`+
				`<IsTruncated>false</IsTruncated></ListBucketResult>`)
		case strings.HasSuffix(r.URL.Path, "/stall-head.json"):
			hold()
		case strings.HasSuffix(r.URL.Path, "/stall-body.json"), strings.HasSuffix(r.URL.Path, "/stall-body.bz2"):
			w.Header().Set("Content-Length", "1000")
			w.Write([]byte(strings.Repeat("{", 100)))
			w.(http.Flusher).Flush()
			hold()
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestRejectsStalledRepository reads from a repository that stops sending
// (slow retrieval), over HTTP and from an S3 bucket: the read must fail
// with errStalled once nothing has come for stallTimeout, after the bytes
// that did come, rather than hold the command (a mirror run by cron, say)
// forever.
func TestRejectsStalledRepository(t *testing.T) {
	saved := stallTimeout
	stallTimeout = 300 * time.Millisecond
	t.Cleanup(func() { stallTimeout = saved })
	srv := stallingRepo(t)
	// Static credentials, so that the AWS SDK asks nothing else anywhere.
	t.Setenv("AWS_ACCESS_KEY_ID", "stall-test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "stall-test-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	for _, repo := range []string{
		srv.URL + "/repo",
		"s3://stalling?endpoint=" + srv.URL + "&use_path_style=true&region=us-east-1",
	} {
		s, err := openStore(t.Context(), repo, false, false, nil)
		if err != nil {
			t.Fatalf("openStore(%s): %v", repo, err)
		}
		for _, c := range []struct {
			name string
			got  int // bytes the server sends before it stalls
		}{{"stall-head.json", 0}, {"stall-body.json", 100}} {
			start := time.Now()
			got, err := readStalled(t.Context(), s.rd, c.name)
			took := time.Since(start)
			if !errors.Is(err, errStalled) {
				t.Errorf("%s, %s: error %v, want errStalled", repo, c.name, err)
			}
			if got != c.got {
				t.Errorf("%s, %s: read %d bytes before the error, want %d", repo, c.name, got, c.got)
			}
			if took < stallTimeout || took > 20*stallTimeout {
				t.Errorf("%s, %s: gave up after %v, want about %v", repo, c.name, took, stallTimeout)
			}
		}
		// Checking a payload (sign, mirror --verify) that stalls is the
		// repository's failure, not a payload that does not match.
		r := &release.Release{Binary: "stall-body.bz2", Version: "1.0.0", OS: "linux", Arch: "amd64",
			Size: 1000, CompressedSize: 1000, Hash: strings.Repeat("0", 64), CompressedHash: strings.Repeat("0", 64)}
		err = checkPayload(t.Context(), s.rd, r)
		if !unreachable(err) || !errors.Is(err, errStalled) {
			t.Errorf("%s: checking a payload that stalls: %v, want a *reader.FetchError for errStalled", repo, err)
		}
		s.Close()
	}

	// A bucket that stalls on a HEAD (the version token every conditional
	// write starts with) or on a listing.
	s, err := openStore(t.Context(), "s3://stalling?endpoint="+srv.URL+"&use_path_style=true&region=us-east-1", true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.token(t.Context(), "stall-head.json"); !errors.Is(err, errStalled) {
		t.Errorf("token of an object whose HEAD stalls: %v, want errStalled", err)
	}
	if _, err := s.rd.(blobReader).list(t.Context(), "stall/"); !errors.Is(err, errStalled) {
		t.Errorf("a listing that stalls: %v, want errStalled", err)
	}
}

// readStalled opens name as every read of repotool does, and reads it to
// the end, returning how many bytes came and the error.
func readStalled(ctx context.Context, rd repoReader, name string) (int, error) {
	r, err := reader.Stream(ctx, params(), rd, name, 0)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	n, err := io.Copy(io.Discard, r)
	if err == nil {
		err = errors.New("read to the end")
	}
	return int(n), err
}
