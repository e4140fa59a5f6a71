package apply_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/internal/pbzip2"
)

// benchBinary returns size bytes standing in for a large executable: the
// real executables of /usr/bin, in name order, for four fifths, then
// random bytes (as embedded compressed assets are).
func benchBinary(b *testing.B, size int) []byte {
	b.Helper()
	out := make([]byte, 0, size)
	entries, err := os.ReadDir("/usr/bin")
	if err != nil {
		b.Fatal(err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for len(out) < size*4/5 {
		before := len(out)
		for _, e := range entries {
			if len(out) >= size*4/5 {
				break
			}
			fi, err := os.Stat(filepath.Join("/usr/bin", e.Name()))
			if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
				continue
			}
			data, err := os.ReadFile(filepath.Join("/usr/bin", e.Name()))
			if err != nil {
				continue
			}
			out = append(out, data[:min(len(data), size*4/5-len(out))]...)
		}
		if len(out) == before {
			b.Fatal("no readable executables in /usr/bin")
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for len(out) < size {
		out = append(out, byte(rng.Uint64()))
	}
	return out
}

// BenchmarkApply updates a 100 MiB binary from an HTTP repository on
// 127.0.0.1, with a pbzip2 payload (several bzip2 streams, decoded in
// parallel) and a zstd one. It reports MB/s of the binary.
func BenchmarkApply(b *testing.B) {
	const size = 100 << 20
	bin := benchBinary(b, size)
	var z bytes.Buffer
	zw, err := pbzip2.NewWriter(&z)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := zw.Write(bin); err != nil {
		b.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	payloads := []struct {
		name, file string
		data       []byte
	}{
		{"100MiB-pbzip2", "app.bz2", z.Bytes()},
		{"100MiB-zstd", "app.zst", zstdData(b, bin, zstd.WithEncoderLevel(zstd.SpeedBetterCompression))},
	}
	for _, p := range payloads {
		b.Run(p.name, func(b *testing.B) {
			f := newFixture(b)
			f.publishPayload(b, p.file, bin, p.data)
			b.SetBytes(size)
			for b.Loop() {
				if err := apply.Apply(b.Context(), f.opts()...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(p.data))/size, "ratio")
		})
	}
}
