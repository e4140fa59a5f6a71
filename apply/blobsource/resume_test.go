package blobsource_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path"
	"sync"
	"testing"

	"github.com/safeupdate/safeupdate/apply"
)

// cutSource passes every Open to a real Source, but cuts the first read of
// the payload after cutAt bytes with a network-like error, as a dropped
// connection would, and records the offsets the payload is opened at.
type cutSource struct {
	src     apply.Source
	payload string
	cutAt   int64

	mu      sync.Mutex
	cut     bool
	offsets []int64
}

func (c *cutSource) Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	rc, err := c.src.Open(ctx, name, offset)
	if err != nil || name != c.payload {
		return rc, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offsets = append(c.offsets, offset)
	if c.cut {
		return rc, nil
	}
	c.cut = true
	return &cutReader{r: io.LimitReader(rc, c.cutAt), c: rc}, nil
}

type cutReader struct {
	r io.Reader
	c io.Closer
}

var errCut = errors.New("connection reset by the test")

func (r *cutReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err == io.EOF {
		return n, errCut
	}
	return n, err
}

func (r *cutReader) Close() error { return r.c.Close() }

// TestSurvivesCutDownloadFromBucket cuts the payload's stream midway: apply
// must resume it with a ranged read from the first byte it did not get, on
// every store, and install exactly the published binary.
func TestSurvivesCutDownloadFromBucket(t *testing.T) {
	t.Parallel()
	oldBytes, err := os.ReadFile(buildApp(t, "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	newBin := buildApp(t, "2.0.0")
	newBytes, err := os.ReadFile(newBin)
	if err != nil {
		t.Fatal(err)
	}
	key, pub := releaseKey(t)
	signed, rel := localRelease(t, newBin, "2.0.0", key)
	forEachStore(t, func(t *testing.T, repoURL string) {
		upload(t, signed, repoURL)
		src := &cutSource{
			src:     openSource(t, repoURL),
			payload: path.Join(releaseDir(t, "2.0.0"), rel.Binary),
			cutAt:   rel.CompressedSize / 3,
		}
		target := installed(t, oldBytes)
		err := apply.Apply(t.Context(),
			apply.WithSource(src),
			apply.Version("2.0.0"),
			apply.PublicKey(pub),
			apply.CurrentVersion("1.0.0"),
			apply.TargetFile(target),
		)
		if err != nil {
			t.Fatalf("Apply with a cut download: %v", err)
		}
		if len(src.offsets) != 2 || src.offsets[0] != 0 || src.offsets[1] != src.cutAt {
			t.Errorf("payload opened at offsets %v, want [0 %d]", src.offsets, src.cutAt)
		}
		got, err := os.ReadFile(target)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, newBytes) {
			t.Errorf("installed binary (%d bytes) differs from the published one (%d bytes)", len(got), len(newBytes))
		}
	})
}
