package fileurl

import (
	"net/url"
	"path/filepath"
	"runtime"
	"testing"
)

// TestRejectsFileURLNamingAnotherPlace: a file URL that names another
// machine, a relative path, or carries a query or fragment is refused,
// not read as some local directory.
func TestRejectsFileURLNamingAnotherPlace(t *testing.T) {
	for _, raw := range []string{
		"file://host/repo", "file:repo", "file:./repo", "file:///repo?x=1", "file:///repo?", "file:///repo#f", "file://",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if dir, err := Dir(u); err == nil {
			t.Errorf("Dir(%s) = %q, want an error", raw, dir)
		}
	}
	if runtime.GOOS == "windows" {
		return
	}
	for raw, want := range map[string]string{"file:///srv/repo": "/srv/repo", "file://localhost/srv/repo": "/srv/repo"} {
		u, _ := url.Parse(raw)
		if dir, err := Dir(u); err != nil || dir != filepath.FromSlash(want) {
			t.Errorf("Dir(%s) = %q, %v, want %s", raw, dir, err, want)
		}
	}
}
