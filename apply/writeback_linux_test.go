package apply

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestWritebackWritesEverything: the writer that starts writeback early
// passes every byte through in order, across many chunks and odd write
// sizes, and reports a failing write.
func TestWritebackWritesEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := make([]byte, 3*writebackChunk+12345)
	for i := range data {
		data[i] = byte(i * 7 / 5)
	}
	w := startWriteback(f)
	if _, ok := w.(*writeback); !ok {
		t.Fatalf("startWriteback returned %T, want the writeback writer", w)
	}
	for p, k := data, 1; len(p) > 0; k = (k*3 + 1) % (1 << 20) {
		n := min(len(p), k+1)
		if m, err := w.Write(p[:n]); m != n || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v", n, m, err)
		}
		p = p[n:]
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file has %d bytes (want %d), equal %v, %v", len(got), len(data), bytes.Equal(got, data), err)
	}
	// Every chunk but the last, unfinished one was handed to the kernel.
	if wb := w.(*writeback); wb.written != int64(len(data)) || wb.from < 2*writebackChunk || wb.written-wb.from >= writebackChunk {
		t.Errorf("handed %d of %d bytes to the kernel, want all but less than %d", wb.from, wb.written, writebackChunk)
	}

	ro, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := startWriteback(ro).Write([]byte("x")); err == nil {
		t.Fatalf("Write to a read-only file = %v, want an error", err)
	}
}
