package bsdiff

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkPatchMemory measures the anonymous memory (RssAnon, leaving out
// the page cache and file mappings) of a process that applies a patch to a
// base of 100, 256 and 512 MiB (BSDIFF_BENCH_MIB="100 256 512" overrides)
// as a client does: old and the patch read through ReadAt from their
// files, the output written to a file and hashed. The patch changes 1% of
// the bytes of every 64 KiB and inserts 16 bytes after each. The apply runs
// in a child process (this test binary again), so that what the parent
// holds to make the patch is not counted; it reports "anon-MiB" (the peak,
// sampled every 2 ms) and "s" per apply.
func BenchmarkPatchMemory(b *testing.B) {
	sizes := strings.Fields(os.Getenv("BSDIFF_BENCH_MIB"))
	if len(sizes) == 0 {
		sizes = []string{"100", "256", "512"}
	}
	for _, s := range sizes {
		mib, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(s+"MiB", func(b *testing.B) {
			dir := b.TempDir()
			sum, newSize := writeSyntheticPatch(b, dir, mib<<20)
			for b.Loop() {
				cmd := exec.Command(os.Args[0], "-test.run=^TestPatchChild$")
				cmd.Env = append(os.Environ(), "BSDIFF_PATCH_CHILD="+dir, "BSDIFF_PATCH_SIZE="+strconv.FormatInt(newSize, 10))
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("child: %v\n%s", err, out)
				}
				var anon int64
				var got string
				var secs float64
				if _, err := fmt.Sscanf(lastLine(out), "anon_kib=%d sha256=%s s=%g", &anon, &got, &secs); err != nil {
					b.Fatalf("child output %q: %v", out, err)
				}
				if got != sum {
					b.Fatalf("output sha256 %s, want %s", got, sum)
				}
				b.ReportMetric(float64(anon)/1024, "anon-MiB")
				b.ReportMetric(secs, "s")
			}
		})
	}
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "anon_kib=") {
			return lines[i]
		}
	}
	return ""
}

// writeSyntheticPatch writes dir/old (n pseudo-random bytes) and dir/patch,
// and returns the new file's sha256 and size.
func writeSyntheticPatch(b *testing.B, dir string, n int) (string, int64) {
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	old := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			old[i+j] = byte(v >> (8 * j))
		}
	}
	const chunk, inserted = 64 << 10, 16
	var s streams
	s.diff = make([]byte, 0, n)
	h := sha256.New()
	newSize := 0
	for at := 0; at < n; at += chunk {
		c := min(chunk, n-at)
		d := make([]byte, c)
		for range c / 100 {
			d[rng.IntN(c)] = byte(rng.Uint32())
		}
		s.diff = append(s.diff, d...)
		ins := make([]byte, inserted)
		for i := range ins {
			ins[i] = byte(rng.Uint32())
		}
		s.extra = append(s.extra, ins...)
		s.triple(c, inserted, 0)
		for i := range d {
			d[i] += old[at+i]
		}
		h.Write(d)
		h.Write(ins)
		newSize += c + inserted
	}
	var p bytes.Buffer
	var packed [3]bytes.Buffer
	for i, data := range [3][]byte{s.ctrl, s.diff, s.extra} {
		if err := compress(&packed[i], data); err != nil {
			b.Fatal(err)
		}
	}
	p.Write(header{ctrlLen: int64(packed[0].Len()), diffLen: int64(packed[1].Len()), newSize: int64(newSize)}.marshal())
	for i := range packed {
		p.Write(packed[i].Bytes())
	}
	if err := os.WriteFile(filepath.Join(dir, "old"), old, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "patch"), p.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil)), int64(newSize)
}

// TestPatchChild is BenchmarkPatchMemory's child; it does nothing in a
// plain test run.
func TestPatchChild(t *testing.T) {
	dir := os.Getenv("BSDIFF_PATCH_CHILD")
	if dir == "" {
		return
	}
	newSize, err := strconv.ParseInt(os.Getenv("BSDIFF_PATCH_SIZE"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	peak := make(chan int64)
	go func() {
		var max int64
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := rssAnon(); v > max {
				max = v
			}
			select {
			case <-done:
				peak <- max
				return
			case <-tick.C:
			}
		}
	}()
	start := time.Now()
	old, err := os.Open(filepath.Join(dir, "old"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	p, err := os.Open(filepath.Join(dir, "patch"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	oi, _ := old.Stat()
	pi, _ := p.Stat()
	out, err := os.Create(filepath.Join(dir, "new"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	h := sha256.New()
	w := bufio.NewWriterSize(out, 256<<10)
	if err := Patch(multiWriter{w, h}, old, oi.Size(), p, pi.Size(), newSize); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	secs := time.Since(start).Seconds()
	close(done)
	fmt.Printf("anon_kib=%d sha256=%x s=%.3f\n", <-peak, h.Sum(nil), secs)
}

type multiWriter struct {
	a, b interface{ Write([]byte) (int, error) }
}

func (m multiWriter) Write(p []byte) (int, error) {
	m.b.Write(p)
	return m.a.Write(p)
}

// rssAnon returns this process's RssAnon in KiB.
func rssAnon() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range bytes.Lines(b) {
		if v, ok := strings.CutPrefix(string(line), "RssAnon:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return -1
}
