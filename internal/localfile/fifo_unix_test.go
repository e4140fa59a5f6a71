//go:build unix

package localfile

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRejectsFIFOAsLocalFile plants a FIFO where a pinned root or a trust
// store file is read: opening it would block until a writer came; it must
// be refused at once instead.
func TestRejectsFIFOAsLocalFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "root.json")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := Read(p, 1<<20); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("Read of a FIFO: %v, want not a regular file", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Read of a FIFO blocked")
	}
}
