package blobsource_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply/blobsource"
	"github.com/safeupdate/safeupdate/blobrepo"
)

// stores are the repositories every test runs against. The cloud ones read
// the bucket URL that scripts/emulators.sh env prints.
var stores = []struct{ name, env, what string }{
	{"file", "", ""},
	{"s3", "SAFEUPDATE_TEST_S3", "S3 (versitygw)"},
	{"gcs", "SAFEUPDATE_TEST_GCS", "GCS (fake-gcs-server)"},
	{"azure", "SAFEUPDATE_TEST_AZURE", "Azure (Azurite)"},
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9-]+`)

// forEachStore runs test once per store, in parallel subtests named after
// the stores. A cloud store whose emulator variable is unset is skipped.
func forEachStore(t *testing.T, test func(t *testing.T, repoURL string)) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			test(t, newRepoURL(t, st.name, st.env, st.what))
		})
	}
}

// newRepoURL returns the URL of a new, empty repository: a temporary
// directory, or a fresh random key prefix in the emulator's bucket (the
// bucket is shared, so nothing outside the prefix is ever touched).
func newRepoURL(t *testing.T, name, env, what string) string {
	t.Helper()
	if env == "" {
		return "file:///" + strings.TrimPrefix(filepath.ToSlash(t.TempDir()), "/")
	}
	raw := os.Getenv(env)
	if raw == "" {
		t.Skipf("%s emulator not configured: start it with scripts/emulators.sh start, "+
			`then eval "$(scripts/emulators.sh env)" (%s is not set)`, what, env)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%s=%q: %v", env, raw, err)
	}
	var nonce [6]byte
	rand.Read(nonce[:])
	u.Path = "/blobsource/" + strings.Trim(unsafeName.ReplaceAllString(t.Name(), "-"), "-") + "-" + hex.EncodeToString(nonce[:])
	repoURL := u.String()
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
