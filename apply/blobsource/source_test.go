package blobsource_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/apply/blobsource"
	"github.com/safeupdate/safeupdate/blobrepo"
)

// TestOpenAtOffset reads an object from several offsets, as apply does when
// it resumes a cut download, and checks the exact bytes on every store.
func TestOpenAtOffset(t *testing.T) {
	forEachStore(t, func(t *testing.T, repoURL string) {
		data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
		data[1000] = 'X'
		put(t, openStore(t, repoURL), "1.0.0/linux/amd64/app.bz2", data)
		src := openSource(t, repoURL)
		for _, off := range []int64{0, 1, 1000, 4095, 4096, int64(len(data)) - 1, int64(len(data))} {
			rc, err := src.Open(t.Context(), "1.0.0/linux/amd64/app.bz2", off)
			if err != nil {
				t.Fatalf("Open at %d: %v", off, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("read at %d: %v", off, err)
			}
			if !bytes.Equal(got, data[off:]) {
				t.Errorf("Open at %d: got %d bytes, want the %d bytes from there", off, len(got), len(data)-int(off))
			}
		}
	})
}

// TestOpenPastEnd is a resumption against an object that shrank: it must
// fail, not return nothing as if the download were complete.
func TestOpenPastEnd(t *testing.T) {
	forEachStore(t, func(t *testing.T, repoURL string) {
		put(t, openStore(t, repoURL), "a/b", []byte("short"))
		rc, err := openSource(t, repoURL).Open(t.Context(), "a/b", 6)
		if err == nil {
			rc.Close()
			t.Fatal("Open past the end succeeded")
		}
		if errors.Is(err, apply.ErrNotFound) {
			t.Errorf("Open past the end: %v; want an error other than ErrNotFound", err)
		}
		if !strings.HasPrefix(err.Error(), "blobsource: ") && !strings.HasPrefix(err.Error(), "apply: ") {
			t.Errorf("error %q has no package prefix", err)
		}
		if !errors.Is(err, blobrepo.ErrRange) {
			t.Errorf("Open past the end: %v; want blobrepo.ErrRange", err)
		}
	})
}

func TestOpenMissingIsErrNotFound(t *testing.T) {
	forEachStore(t, func(t *testing.T, repoURL string) {
		st := openStore(t, repoURL)
		put(t, st, "1.0.0/linux/amd64/release.json", []byte("{}"))
		src := openSource(t, repoURL)
		paths := []string{
			"2.0.0/linux/amd64/release.json",   // sibling of nothing
			"1.0.0/linux/amd64/app.bz2",        // beside an object
			"1.0.0/linux/amd64/release.json/x", // below an object
		}
		if !strings.HasPrefix(repoURL, "file:") {
			// In a bucket a "directory" is no object; in a directory it is
			// refused as not a regular file (apply.DirSource).
			paths = append(paths, "1.0.0/linux/amd64")
		}
		for _, path := range paths {
			rc, err := src.Open(t.Context(), path, 0)
			if err == nil {
				rc.Close()
				t.Errorf("Open(%s) succeeded", path)
				continue
			}
			if !errors.Is(err, apply.ErrNotFound) {
				t.Errorf("Open(%s): %v; want apply.ErrNotFound", path, err)
			}
		}
	})
}

// TestRejectsPathEscapeFromBucket checks that no path leaves the
// repository's prefix: an object planted beside the prefix is unreachable.
func TestRejectsPathEscapeFromBucket(t *testing.T) {
	forEachStore(t, func(t *testing.T, repoURL string) {
		st := openStore(t, repoURL)
		put(t, st, "inner/secret", []byte("not for the client"))
		src := openSource(t, subRepo(t, repoURL, "inner"))
		for _, path := range []string{"../inner/secret", "/secret", "a/../secret", "./secret", `a\..\secret`, "", "secret/"} {
			rc, err := src.Open(t.Context(), path, 0)
			if err == nil {
				rc.Close()
				t.Errorf("Open(%q) succeeded", path)
			}
		}
		rc, err := src.Open(t.Context(), "secret", 0)
		if err != nil {
			t.Fatalf("Open(secret) inside the prefix: %v", err)
		}
		rc.Close()
	})
}

func TestOpenRefusesNegativeOffset(t *testing.T) {
	forEachStore(t, func(t *testing.T, repoURL string) {
		put(t, openStore(t, repoURL), "a", []byte("data"))
		if rc, err := openSource(t, repoURL).Open(t.Context(), "a", -1); err == nil {
			rc.Close()
			t.Fatal("Open at offset -1 succeeded")
		}
	})
}

func TestOpenStopsOnCancelledContext(t *testing.T) {
	forEachStore(t, func(t *testing.T, repoURL string) {
		put(t, openStore(t, repoURL), "a", []byte("data"))
		src := openSource(t, repoURL)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		rc, err := src.Open(ctx, "a", 0)
		if err == nil {
			rc.Close()
			t.Fatal("Open with a cancelled context succeeded")
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Open with a cancelled context: %v; want context.Canceled", err)
		}
	})
}

func TestOpenRefusesBadURLs(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ url, want string }{
		{"https://example.com/repo", "apply.SourceRepo"},
		{"ftp://example.com/repo", "want s3, gs, azblob or file"},
		{"file://example.com/repo", "local directory"},
		{"file:///" + strings.TrimPrefix(dir, "/") + "?x=1", "no query"},
		{"file:///" + strings.TrimPrefix(dir, "/") + "/missing", "no such file"},
		{"relative/dir", "want s3, gs, azblob or file"},
		{"s3://", "no bucket"},
		{"s3://b/../x", "key prefix"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			src, err := blobsource.Open(t.Context(), tc.url)
			if err == nil {
				src.Close()
				t.Fatalf("Open(%s) succeeded", tc.url)
			}
			if !strings.HasPrefix(err.Error(), "blobsource: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open(%s): %q; want blobsource: ...%s...", tc.url, err, tc.want)
			}
		})
	}
}

func TestOpenMissingBucket(t *testing.T) {
	for _, name := range stores[1:] {
		t.Run(name, func(t *testing.T) {
			repoURL := newRepoURL(t, name)
			missing := strings.Replace(repoURL, "safeupdate-test", "safeupdate-no-such-bucket", 1)
			src, err := blobsource.Open(t.Context(), missing)
			if err == nil {
				src.Close()
				t.Fatalf("Open(%s) succeeded", missing)
			}
			if errors.Is(err, apply.ErrNotFound) {
				t.Errorf("Open of a missing bucket: %v; a configuration error must not look like a missing file", err)
			}
		})
	}
}

// TestOpenWithoutAccess opens the S3 bucket with no credentials: the
// refusal (403) must be reported at Open, and not as a missing file, which
// apply would take as "no such release".
func TestOpenWithoutAccess(t *testing.T) {
	repoURL := newRepoURL(t, "s3")
	put(t, openStore(t, repoURL), "a", []byte("data"))
	anon := repoURL + "&anonymous=true"
	src, err := blobsource.Open(t.Context(), anon)
	if err == nil {
		defer src.Close()
		rc, err := src.Open(t.Context(), "a", 0)
		if err == nil {
			rc.Close()
			t.Fatalf("anonymous read of a private bucket succeeded")
		}
		t.Fatalf("Open succeeded without credentials; the read failed with %v", err)
	}
	if errors.Is(err, apply.ErrNotFound) || errors.Is(err, blobrepo.ErrNotFound) {
		t.Errorf("Open without credentials: %v; an access error must not look like a missing file", err)
	}
}
