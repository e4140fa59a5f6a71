package blobsource_test

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply/blobsource"
	"github.com/safeupdate/safeupdate/blobrepo"
	"github.com/safeupdate/safeupdate/internal/storetest"
)

// stores are the repositories every test runs against: a local directory,
// and the emulated buckets (see internal/storetest).
var stores = append([]string{"file"}, bucketNames()...)

func bucketNames() []string {
	var names []string
	for _, b := range storetest.Buckets {
		names = append(names, b.Name)
	}
	return names
}

// forEachStore runs test once per store, in parallel subtests named after
// the stores.
func forEachStore(t *testing.T, test func(t *testing.T, repoURL string)) {
	for _, name := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, newRepoURL(t, name))
		})
	}
}

// newRepoURL returns the URL of a new, empty repository: a temporary
// directory, or a fresh key prefix of the emulator's bucket, removed when
// the test ends.
func newRepoURL(t *testing.T, name string) string {
	t.Helper()
	if name == "file" {
		return "file:///" + strings.TrimPrefix(filepath.ToSlash(t.TempDir()), "/")
	}
	repoURL := storetest.URL(t, name, "blobsource")
	t.Cleanup(func() { removePrefix(t, repoURL) })
	return repoURL
}

// removePrefix deletes every object under the test's own prefix of the
// shared bucket, and nothing else.
func removePrefix(t *testing.T, repoURL string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := blobrepo.Open(ctx, repoURL)
	if err != nil {
		t.Logf("cleaning up %s: %v", repoURL, err)
		return
	}
	defer st.Close()
	err = st.List(ctx, "", func(path string) error { return st.Delete(ctx, path) })
	if err != nil {
		t.Logf("cleaning up %s: %v", repoURL, err)
	}
}

// subRepo returns the URL of the repository under name inside the one at
// repoURL, creating its directory for file://.
func subRepo(t *testing.T, repoURL, name string) string {
	t.Helper()
	u, err := url.Parse(repoURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path += "/" + name
	if u.Scheme == "file" {
		if err := os.MkdirAll(filepath.FromSlash(u.Path), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return u.String()
}

// openStore opens the repository at repoURL for writing, as a publisher.
func openStore(t *testing.T, repoURL string) *blobrepo.Store {
	t.Helper()
	st, err := blobrepo.Open(t.Context(), repoURL)
	if err != nil {
		t.Fatalf("blobrepo.Open(%s): %v", repoURL, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// openSource opens the repository at repoURL as a client.
func openSource(t *testing.T, repoURL string) *blobsource.Source {
	t.Helper()
	src, err := blobsource.Open(t.Context(), repoURL)
	if err != nil {
		t.Fatalf("blobsource.Open(%s): %v", repoURL, err)
	}
	t.Cleanup(func() {
		if err := src.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return src
}

func put(t *testing.T, st *blobrepo.Store, path string, data []byte) {
	t.Helper()
	if err := st.Put(t.Context(), path, bytes.NewReader(data), blobrepo.PutOptions{}); err != nil {
		t.Fatalf("Put(%s): %v", path, err)
	}
}

func get(t *testing.T, st *blobrepo.Store, path string) []byte {
	t.Helper()
	rc, err := st.Get(t.Context(), path, 0, -1)
	if err != nil {
		t.Fatalf("Get(%s): %v", path, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%s): %v", path, err)
	}
	return data
}
