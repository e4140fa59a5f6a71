package pbzip2

import (
	"bytes"
	"compress/bzip2"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
)

// randomBytes returns n random bytes with no two equal neighbours, so a
// chunk of them is exactly blockMax bytes.
func randomBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
		if i > 0 && b[i] == b[i-1] {
			b[i]++
		}
	}
	return b
}

// countStreams counts the streams of a file made by Writer: from each
// stream start, it finds the first place a stream header ("BZh" and a level)
// begins, or the end, such that the bytes up to there decode with
// compress/bzip2 as whole streams; there the next stream starts.
func countStreams(t *testing.T, data []byte) int {
	t.Helper()
	streams := 0
	for p := 0; p < len(data); streams++ {
		q := p + 1
		for ; ; q++ {
			next := bytes.Index(data[q:], []byte("BZh"))
			if next < 0 {
				q = len(data)
			} else {
				q += next
			}
			src := bytes.NewReader(data[p:q])
			_, err := io.Copy(io.Discard, bzip2.NewReader(src))
			if err == nil && src.Len() == 0 {
				break
			}
			if q == len(data) {
				t.Fatalf("stream %d at %d: %v", streams+1, p, err)
			}
		}
		p = q
	}
	return streams
}

func TestWriterRoundTrip(t *testing.T) {
	runs := bytes.Repeat([]byte("aaaab"), 300000) // runs of exactly four
	tests := []struct {
		name    string
		in      []byte
		streams int
	}{
		{"empty", nil, 1},
		{"one byte", []byte{'x'}, 1},
		{"one chunk", randomBytes(blockMax, 1), 1},
		{"one chunk plus one", randomBytes(blockMax+1, 2), 2},
		{"several MB", payload(t, 3<<20, 3), 0},
		{"zeros", make([]byte, 3<<20+7), 4},
		{"runs of four", runs, 0},
		{"periodic", bytes.Repeat([]byte("abc"), 100000), 1},
		{"same byte", bytes.Repeat([]byte{7}, 1000), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := compress(t, tt.in)
			for _, prog := range []string{"bzip2", "lbzip2"} {
				t.Run(prog, func(t *testing.T) {
					if got := program(t, z, prog, "-dc"); !bytes.Equal(got, tt.in) {
						t.Fatalf("%s -d: got %d bytes, want %d", prog, len(got), len(tt.in))
					}
				})
			}
			got, err := stdlibDecode(z)
			if err != nil || !bytes.Equal(got, tt.in) {
				t.Fatalf("compress/bzip2: %v, %d bytes, want %d", err, len(got), len(tt.in))
			}
			if err := checkLikeStdlib(t, z); err != nil {
				t.Fatal(err)
			}
			n := countStreams(t, z)
			if tt.streams > 0 && n != tt.streams {
				t.Fatalf("%d streams, want %d", n, tt.streams)
			}
			if min := (len(tt.in) + maxOutput - 1) / maxOutput; n < min {
				t.Fatalf("%d streams for %d bytes: a stream holds more than %d", n, len(tt.in), maxOutput)
			}
		})
	}
}

// TestWriterSplitsWrites checks that the output does not depend on how the
// input is cut into Write calls or on the number of workers.
func TestWriterSplitsWrites(t *testing.T) {
	in := payload(t, 2<<20+5000, 4)
	want := compress(t, in, Workers(1))
	for _, workers := range []int{2, 5} {
		var b bytes.Buffer
		w, err := NewWriter(&b, Workers(workers))
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(5, 5))
		for p := in; len(p) > 0; {
			k := min(len(p), rng.IntN(200000))
			if _, err := w.Write(p[:k]); err != nil {
				t.Fatal(err)
			}
			p = p[k:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Fatalf("%d workers, random writes: output differs", workers)
		}
	}
}

// TestWriterRatio compares the output size with the bzip2 program's.
func TestWriterRatio(t *testing.T) {
	in := payload(t, 4<<20, 6)
	ours := len(compress(t, in))
	ref := len(program(t, in, "bzip2", "-9c"))
	t.Logf("pbzip2 %d bytes, bzip2 -9 %d bytes (%+.2f%%)", ours, ref, 100*float64(ours-ref)/float64(ref))
	if float64(ours) > 1.02*float64(ref) {
		t.Fatalf("output %d bytes is more than 2%% larger than bzip2 -9's %d", ours, ref)
	}
}

type failingWriter struct{ after int }

var errDiskFull = errors.New("disk full")

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errDiskFull
	}
	f.after--
	return len(p), nil
}

func TestSurvivesWriteError(t *testing.T) {
	w, err := NewWriter(&failingWriter{after: 1})
	if err != nil {
		t.Fatal(err)
	}
	in := randomBytes(4*blockMax, 7)
	var werr error
	for p := in; len(p) > 0 && werr == nil; p = p[min(len(p), 100000):] {
		_, werr = w.Write(p[:min(len(p), 100000)])
	}
	cerr := w.Close()
	if !errors.Is(cerr, errDiskFull) {
		t.Fatalf("Close: %v, want %v", cerr, errDiskFull)
	}
	if _, err := w.Write([]byte{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
}

func TestWorkersOption(t *testing.T) {
	for _, n := range []int{0, -1, 257} {
		if _, err := NewWriter(nil, Workers(n)); err == nil {
			t.Errorf("NewWriter accepted Workers(%d)", n)
		}
		if _, err := NewReader(nil, Workers(n)); err == nil {
			t.Errorf("NewReader accepted Workers(%d)", n)
		}
	}
}

// naiveBWT sorts the rotations of b directly.
func naiveBWT(b []byte) ([]byte, int) {
	n := len(b)
	rot := make([]int, n)
	for i := range rot {
		rot[i] = i
	}
	doubled := append(slices.Clone(b), b...)
	slices.SortStableFunc(rot, func(i, j int) int { return bytes.Compare(doubled[i:i+n], doubled[j:j+n]) })
	last := make([]byte, n)
	orig := 0
	for r, i := range rot {
		last[r] = doubled[i+n-1]
		if i == 0 {
			orig = r
		}
	}
	return last, orig
}

func TestBWTMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	inputs := [][]byte{{0}, {1, 0}, []byte("banana"), []byte("abab"), []byte("aaaa"), []byte("abcabcabc")}
	for range 300 {
		n := 1 + rng.IntN(60)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + rng.IntN(1+rng.IntN(3)))
		}
		if rng.IntN(4) == 0 { // make it periodic
			p := 1 + rng.IntN(n)
			for i := p; i < n; i++ {
				b[i] = b[i-p]
			}
			b = b[:n-n%p]
		}
		inputs = append(inputs, b)
	}
	var e encoder
	for _, in := range inputs {
		want, _ := naiveBWT(in)
		got := make([]byte, len(in))
		orig, err := e.bwt(in, got)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("bwt(%q) = %q, want %q", in, got, want)
		}
		// A periodic block has equal rotations; any of them may be the origin.
		if !bytes.Equal(rotationAt(in, orig), in) {
			t.Fatalf("bwt(%q): origin row %d holds %q", in, orig, rotationAt(in, orig))
		}
	}
}

// rotationAt returns the rotation of b in sorted row r.
func rotationAt(b []byte, r int) []byte {
	n := len(b)
	rot := make([]int, n)
	for i := range rot {
		rot[i] = i
	}
	doubled := append(slices.Clone(b), b...)
	slices.SortStableFunc(rot, func(i, j int) int { return bytes.Compare(doubled[i:i+n], doubled[j:j+n]) })
	return doubled[rot[r] : rot[r]+n]
}

// TestFillCountsRuns checks the Writer's running count of run-length
// encoded bytes, which decides where chunks end, against rle1 itself: a
// chunk is one block, and as long as one block allows.
func TestFillCountsRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(40, 40))
	for i := range 30 {
		var in []byte
		for len(in) < maxOutput+4096 {
			b := byte(rng.IntN(4))
			n := 1 + rng.IntN(1+[]int{3, 8, 300, 2000}[rng.IntN(4)])
			if i%3 == 0 {
				n = 1
				b = byte(rng.Uint32())
			}
			in = append(in, bytes.Repeat([]byte{b}, n)...)
		}
		z := &Writer{last: -1, buf: make([]byte, 0, maxOutput)}
		n := 0
		for n < len(in) && len(z.buf) < maxOutput {
			k := z.fill(in[n:min(len(in), n+1+rng.IntN(100000))])
			n += k
			if k == 0 {
				break
			}
		}
		block, used := rle1(nil, z.buf)
		if used != len(z.buf) || len(block) != z.cost {
			t.Fatalf("input %d: fill counted %d bytes for %d input bytes; rle1 makes %d of %d", i, z.cost, len(z.buf), len(block), used)
		}
		if n < len(in) && len(z.buf) < maxOutput {
			if _, used := rle1(nil, in[:n+1]); used == n+1 {
				t.Fatalf("input %d: chunk ends at %d although the next byte fits", i, n)
			}
		}
	}
}
