//go:build unix

package blobrepo

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestRejectsFIFOInDirStore plants a FIFO where a release.json would be, in
// a local repository: opening it would block the read until a writer came.
// Get must refuse it at once, as it refuses any file that is not regular.
func TestRejectsFIFOInDirStore(t *testing.T) {
	repo := t.TempDir()
	dir := filepath.Join(repo, "1.0.0", "linux", "amd64")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "release.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := openDirStore(t, repo)
	done := make(chan error, 1)
	go func() {
		r, err := s.Get(t.Context(), "1.0.0/linux/amd64/release.json", 0, -1)
		if r != nil {
			r.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get of a FIFO: %v, want ErrNotFound (not a regular file)", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Get of a FIFO blocked")
	}
}
