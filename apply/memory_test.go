package apply_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/release"
)

// TestApplyMemoryStaysFlat updates a 256 MiB binary and measures the peak
// of the heap while Apply runs: it must not grow with the payload.
func TestApplyMemoryStaysFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("updates a 256 MiB binary; skipped with -short")
	}
	const (
		chunkSize = 8 << 20
		repeats   = 32 // 256 MiB in all
		// The payload is bzip2 -1 streams of many blocks, which the bzip2
		// reader decodes on both its workers: its bound is about 21 MiB
		// with two (internal/pbzip2.NewReader); 17.5 MiB measured.
		heapLimit = 20 << 20
	)
	f := newFixture(t)
	start := time.Now()
	// Text-like data from a random vocabulary: bzip2 has real work to do,
	// and the result is about a quarter of the input.
	rng := rand.New(rand.NewPCG(1, 2))
	words := make([][]byte, 512)
	for i := range words {
		w := make([]byte, 2+rng.IntN(10))
		for j := range w {
			w[j] = byte('a' + rng.IntN(26))
		}
		words[i] = w
	}
	chunk := make([]byte, 0, chunkSize+16)
	for len(chunk) < chunkSize {
		chunk = append(append(chunk, words[rng.IntN(len(words))]...), " \n"[rng.IntN(2)])
	}
	chunk = chunk[:chunkSize]
	// Compress once; bzip2 streams concatenate into one valid bzip2 file
	// that decompresses to the chunk repeated.
	z, err := bzip2Data(t, chunk, "-1")
	if err != nil {
		t.Fatal(err)
	}
	hash, zhash := sha256.New(), sha256.New()
	dir := filepath.Join(f.repo.dir, "2.0.0", "linux", "amd64")
	out, err := os.Create(filepath.Join(dir, "app.bz2"))
	if err != nil {
		t.Fatal(err)
	}
	for range repeats {
		hash.Write(chunk)
		zhash.Write(z)
		if _, err := out.Write(z); err != nil {
			t.Fatal(err)
		}
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	rel := &release.Release{Binary: "app.bz2", Hash: hex.EncodeToString(hash.Sum(nil)), Size: chunkSize * repeats,
		Version: "2.0.0", OS: "linux", Arch: "amd64",
		CompressedHash: hex.EncodeToString(zhash.Sum(nil)), CompressedSize: int64(len(z)) * repeats}
	if err := signRelease(rel, f.key); err != nil {
		t.Fatal(err)
	}
	data, err := rel.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	f.repo.writeFile(t, "2.0.0/linux/amd64/release.json", data)
	t.Logf("prepared a %d MiB binary (%d MiB compressed) in %v", rel.Size>>20, rel.CompressedSize>>20, time.Since(start))
	chunk, z, words = nil, nil, nil

	runtime.GC()
	base := heapBytes()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if h := heapBytes(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	start = time.Now()
	err = apply.Apply(t.Context(), f.opts()...)
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("applied in %v; heap before %.1f MiB, peak %.1f MiB", time.Since(start), mib(base), mib(peak.Load()))
	if peak.Load() > heapLimit {
		t.Errorf("peak heap %.1f MiB during a 256 MiB update, want under %d MiB", mib(peak.Load()), heapLimit>>20)
	}

	fi, err := os.Stat(f.target)
	if err != nil || fi.Size() != rel.Size {
		t.Fatalf("target is %v bytes (%v), want %d", fi.Size(), err, rel.Size)
	}
	got := sha256.New()
	in, err := os.Open(f.target)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if _, err := io.Copy(got, bufio.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got.Sum(nil)) != rel.Hash {
		t.Error("target does not hold the signed binary")
	}
}

// heapBytes is the memory occupied by heap objects, live or not yet swept.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }
