//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package blobrepo

import (
	"errors"
	"strings"
	"testing"
)

// Without flock(2), IfMatch on file:// cannot be atomic across processes,
// so it is refused rather than done racily.
func TestFileIfMatchRefusedWithoutLocks(t *testing.T) {
	s := openDirStore(t, t.TempDir())
	put(t, s, "x", []byte("1"), PutOptions{})
	a, err := s.Attributes(t.Context(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), "x", strings.NewReader("2"), PutOptions{IfMatch: a.Token}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("IfMatch without directory locks: error = %v, want ErrUnsupported", err)
	}
}
