package pbzip2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// stressRounds is how many rounds TestSurvivesShortReads runs:
// PBZIP2_STRESS=n multiplies the default, for long runs.
func stressRounds(t *testing.T, base int) int {
	t.Helper()
	s := os.Getenv("PBZIP2_STRESS")
	if s == "" {
		return base
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("PBZIP2_STRESS=%q: want a positive number", s)
	}
	return base * n
}

// manyStreams returns k concatenated bzip2 streams written by the Writer's
// encoder, of small inputs of every kind (empty, random, runs, text), the
// input they hold, and where each stream starts.
func manyStreams(k int, seed uint64) (data, want []byte, starts []int) {
	rng := rand.New(rand.NewPCG(seed, 2))
	var e encoder
	for range k {
		var in []byte
		switch n := rng.IntN(40000); rng.IntN(5) {
		case 0:
			in = randomBytes(n, rng.Uint64())
		case 1:
			in = bytes.Repeat([]byte{byte(rng.IntN(256))}, n)
		case 2:
			in = []byte(fmt.Sprintf("%0*d", n%3000, rng.Uint64()))
		case 3:
			in = nil
		default:
			in = randomBytes(n/3, rng.Uint64())
			in = append(in, make([]byte, n/3)...)
			in = append(in, randomBytes(n/3, rng.Uint64())...)
		}
		starts = append(starts, len(data))
		out, err := e.encodeStream(nil, in)
		if err != nil {
			panic(err)
		}
		data = append(data, out...)
		want = append(want, in...)
	}
	return data, want, starts
}

// choppyReader returns its data in reads of random sizes: from 1 byte to
// 64 KiB, reads that end exactly at a stream start or inside a header,
// and reads of nothing; the last read may come with io.EOF.
type choppyReader struct {
	data   []byte
	off    int
	starts []int
	rng    *rand.Rand
}

func (r *choppyReader) Read(p []byte) (int, error) {
	if r.off == len(r.data) {
		return 0, io.EOF
	}
	var n int
	switch r.rng.IntN(8) {
	case 0:
		return 0, nil
	case 1:
		n = 1 + r.rng.IntN(16)
	case 2, 3: // up to the next stream start, or into its header
		i := r.rng.IntN(len(r.starts))
		n = r.starts[i] - r.off + r.rng.IntN(3)*r.rng.IntN(headerLen+1)
	case 4:
		n = 64 << 10
	default:
		n = 1 + r.rng.IntN(64<<10)
	}
	n = min(max(n, 1), len(p), len(r.data)-r.off)
	copy(p, r.data[r.off:r.off+n])
	r.off += n
	if r.off == len(r.data) && r.rng.IntN(2) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// readChoppy reads all of z with Read buffers of random sizes, now and
// then yielding the processor, like a slow consumer.
func readChoppy(z io.Reader, rng *rand.Rand) ([]byte, error) {
	var out []byte
	buf := make([]byte, 70000)
	for {
		k := 1 + rng.IntN(len(buf))
		if rng.IntN(2) == 0 {
			k = 1 + rng.IntN(64)
		}
		n, err := z.Read(buf[:k])
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if rng.IntN(16) == 0 {
			runtime.Gosched()
		}
	}
}

// TestSurvivesShortReads decodes many short streams through inputs that
// return short reads of every size (cut at stream starts and inside
// headers) and a consumer with small buffers, with every number of workers
// and with segment limits that make streams share, fill and overflow
// segments. It must return exactly the input, as compress/bzip2 does.
func TestSurvivesShortReads(t *testing.T) {
	limits := []struct {
		name string
		opt  []Option
	}{
		{"default", nil},
		{"seg64k", []Option{withLimits(64<<10, 1<<20)}},
		{"seg8k", []Option{withLimits(8<<10, 256<<10)}},
		{"out40k", []Option{withLimits(64<<10, 40<<10)}},
	}
	rounds := stressRounds(t, 2)
	for round := range rounds {
		seed := uint64(round)
		data, want, starts := manyStreams(60, seed)
		if round == 0 {
			if got, err := stdlibDecode(data); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("compress/bzip2: %d bytes, %v; want %d bytes", len(got), err, len(want))
			}
		}
		for workers := 1; workers <= 3; workers++ {
			for _, l := range limits {
				r := &choppyReader{data: data, starts: starts, rng: rand.New(rand.NewPCG(seed, uint64(workers)))}
				rng := rand.New(rand.NewPCG(seed, uint64(workers)+10))
				z, err := NewReader(r, append([]Option{Workers(workers)}, l.opt...)...)
				if err != nil {
					t.Fatal(err)
				}
				got, err := readChoppy(z, rng)
				z.Close()
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("round %d, %d workers, %s: %d bytes, %v; want %d bytes", round, workers, l.name, len(got), err, len(want))
				}
			}
		}
	}
}

// TestTakeRefusesLostSegment checks the Reader's own accounting: segments
// that skip or repeat input, or that do not add up to what was read, are an
// error, never a silent end of output. (No input can cause this; it guards
// the Reader's own invariant.)
func TestTakeRefusesLostSegment(t *testing.T) {
	seg := func(off, n int) *segment { return &segment{off: int64(off), buf: make([]byte, n), own: n} }
	tests := []struct {
		name    string
		segs    []*segment
		scanned int64
		ok      bool
	}{
		{"contiguous", []*segment{seg(0, 10), seg(10, 5), seg(15, 1)}, 16, true},
		{"no input", nil, 0, true},
		{"gap", []*segment{seg(0, 10), seg(20, 5)}, 25, false},
		{"overlap", []*segment{seg(0, 10), seg(5, 5)}, 10, false},
		{"last segment lost", []*segment{seg(0, 10), seg(10, 5)}, 20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var z Reader
			var err error
			for _, s := range tt.segs {
				if err = z.take(s); err != nil {
					break
				}
			}
			if err == nil {
				z.scanned = tt.scanned
				err = z.endErr()
			}
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, errLost)) {
				t.Fatalf("error %v, want ok %v", err, tt.ok)
			}
			if err != nil && publicError(err) != err {
				t.Fatalf("publicError changed %v", err)
			}
		})
	}
}
