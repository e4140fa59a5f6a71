package blobrepo

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/safeupdate/safeupdate/internal/storetest"
)

// TestBucketsWriteNothingToStderr publishes, reads, lists and deletes
// through each emulator with the process's standard error redirected to a
// file, which must stay empty: a library must not write to its host
// program's standard error (the AWS SDK does by default, for instance
// "Response has no supported checksum" for each download from an
// S3-compatible server). Not parallel: it swaps os.Stderr.
func TestBucketsWriteNothingToStderr(t *testing.T) {
	for _, b := range backends[1:] {
		t.Run(b, func(t *testing.T) {
			storetest.BucketURL(t, b) // skips if the emulator is not running
			f, err := os.Create(t.TempDir() + "/stderr")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			saved := os.Stderr
			os.Stderr = f // before Open: the SDKs take their writer then
			func() {
				defer func() { os.Stderr = saved }()
				s := openStore(t, b)
				data := pattern(100 << 10)
				put(t, s, "1.0.0/linux/amd64/app.bz2", data, PutOptions{CreateOnly: true})
				put(t, s, "1.0.0/linux/amd64/release.json", []byte("{}"), PutOptions{})
				if got := get(t, s, "1.0.0/linux/amd64/app.bz2", 0, -1); !bytes.Equal(got, data) {
					t.Errorf("read back %d bytes, want %d", len(got), len(data))
				}
				get(t, s, "1.0.0/linux/amd64/app.bz2", 1000, -1)
				if _, err := s.Attributes(t.Context(), "1.0.0/linux/amd64/release.json"); err != nil {
					t.Error(err)
				}
				if _, err := s.Get(t.Context(), "2.0.0/linux/amd64/release.json", 0, -1); err == nil {
					t.Error("read of a missing object succeeded")
				}
				if err := s.List(t.Context(), "", func(string) error { return nil }); err != nil {
					t.Error(err)
				}
				if err := s.Delete(t.Context(), "1.0.0/linux/amd64/app.bz2"); err != nil {
					t.Error(err)
				}
			}()
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			if out, _ := io.ReadAll(f); len(out) > 0 {
				t.Errorf("%s: %d bytes written to standard error:\n%s", b, len(out), out)
			}
		})
	}
}
