package localfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadBounds(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := Read(p, 5); err != nil || string(data) != "12345" {
		t.Fatalf("Read at the limit: %q, %v", data, err)
	}
	if _, err := Read(p, 4); err == nil || !strings.Contains(err.Error(), "is over 4 bytes") {
		t.Fatalf("Read over the limit: %v, want an error", err)
	}
	if _, err := Read(dir, 5); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Read of a directory: %v, want not a regular file", err)
	}
	if _, err := Read(filepath.Join(dir, "missing"), 5); !os.IsNotExist(err) {
		t.Fatalf("Read of a missing file: %v, want not exist", err)
	}
}
