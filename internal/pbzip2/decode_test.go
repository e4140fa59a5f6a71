package pbzip2

import (
	"bytes"
	"compress/bzip2"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
)

var testOut []byte // output buffer for agreeWithStdlib

// agreeWithStdlib fails unless the streams the segment decoder takes from
// the start of data decode, with compress/bzip2 and without error, to the
// bytes it returns for them. It reports whether the decoder took all of
// data.
func agreeWithStdlib(t testing.TB, d *segDecoder, data []byte, limit int) bool {
	t.Helper()
	_, ok := agreePrefix(t, d, data, limit)
	return ok
}

// agreePrefix is agreeWithStdlib, also returning how many bytes of data the
// decoder took.
func agreePrefix(t testing.TB, d *segDecoder, data []byte, limit int) (int, bool) {
	t.Helper()
	if cap(testOut) < limit {
		testOut = make([]byte, limit)
	}
	out, n, ok := d.decode(testOut, data, limit)
	if ok != (n > 0 && n == len(data)) || n < 0 || n > len(data) || len(out) > limit {
		t.Fatalf("segment decoder took %d of %d bytes (all: %v) to %d bytes of output, limit %d", n, len(data), ok, len(out), limit)
	}
	if n == 0 {
		if len(out) != 0 {
			t.Fatalf("segment decoder took nothing but returned %d bytes", len(out))
		}
		return 0, false
	}
	src := bytes.NewReader(data[:n])
	want, err := io.ReadAll(io.LimitReader(bzip2.NewReader(src), int64(limit)+1))
	if err != nil {
		t.Fatalf("segment decoder takes %d bytes that compress/bzip2 rejects (%v)", n, err)
	}
	if !bytes.Equal(out, want) {
		t.Fatalf("segment decoder returns %d bytes, compress/bzip2 %d other ones", len(out), len(want))
	}
	return n, ok
}

// TestSegDecoderMatchesStdlib decodes what Writer and the bzip2 program
// write, and checks that it takes nothing compress/bzip2 would decode
// differently: not the same data with a bit flipped, truncated, extended,
// or decoding to more than the limit.
func TestSegDecoderMatchesStdlib(t *testing.T) {
	inputs := [][]byte{
		[]byte("x"),
		[]byte("hello, hello, hello, world\n"),
		bytes.Repeat([]byte("aaaab"), 3000),   // runs of exactly four
		bytes.Repeat([]byte{'z'}, 2000),       // long runs
		append(make([]byte, 300000), 1, 2, 3), // long zero runs after MTF
		payload(t, 250000, 30),                // bzip2 -1: three blocks
		// One block whose rows form several cycles, not one.
		bytes.Repeat([]byte("0123456789abcdef"), 8192),
	}
	var d segDecoder
	rng := rand.New(rand.NewPCG(32, 32))
	for i, in := range inputs {
		for _, z := range [][]byte{compress(t, in), program(t, in, "bzip2", "-9c"), program(t, in, "bzip2", "-1c")} {
			if !agreeWithStdlib(t, &d, z, 4<<20) {
				t.Fatalf("input %d: valid data not accepted", i)
			}
			if len(in) > 1 && agreeWithStdlib(t, &d, z, len(in)-1) {
				t.Fatalf("input %d: output over the limit accepted", i)
			}
			if agreeWithStdlib(t, &d, z[:len(z)-1], 4<<20) || agreeWithStdlib(t, &d, append(z[:len(z):len(z)], 'B'), 4<<20) {
				t.Fatalf("input %d: truncated or extended data accepted", i)
			}
			if !agreeWithStdlib(t, &d, concat(z, z), 4<<20) {
				t.Fatalf("input %d: two streams not accepted", i)
			}
			// A stream that does not fit, or what follows a stream and is
			// not one, ends the run of whole streams at its start.
			if n, _ := agreePrefix(t, &d, concat(z, z), len(in)*3/2); n != len(z) {
				t.Fatalf("input %d: two streams, room for one: took %d bytes, want %d", i, n, len(z))
			}
			for _, tail := range [][]byte{[]byte("B"), []byte("BZh9"), z[:len(z)-1], []byte("not bzip2 at all")} {
				if n, ok := agreePrefix(t, &d, concat(z, tail), 4<<20); n != len(z) || ok {
					t.Fatalf("input %d: a stream and %d bytes more: took %d bytes (all: %v), want %d", i, len(tail), n, ok, len(z))
				}
			}
			flips := 200
			if len(z) > 64<<10 {
				flips = 10 // each costs a whole block's decode
			}
			for range flips {
				bad := bytes.Clone(z)
				bad[rng.IntN(len(bad))] ^= 1 << rng.IntN(8)
				agreeWithStdlib(t, &d, bad, 4<<20)
			}
		}
	}
}

// FuzzSegDecoder checks that whatever the segment decoder accepts,
// compress/bzip2 decodes to the same bytes.
func FuzzSegDecoder(f *testing.F) {
	small := []byte("hello, hello, hello, world\n")
	f.Add(compress(f, small))
	f.Add(program(f, small, "bzip2", "-1c"))
	f.Add(compress(f, bytes.Repeat([]byte("aaaab"), 100)))
	f.Add(program(f, bytes.Repeat([]byte{0}, 1000), "bzip2", "-9c"))
	fm, _ := falseMagicStream(f, 30, 2)
	f.Add(fm)
	f.Add(program(f, bytes.Repeat([]byte("hello, blocks 0123456789\n"), 20000), "lbzip2", "-1c"))
	var d segDecoder
	f.Fuzz(func(t *testing.T, data []byte) {
		agreeWithStdlib(t, &d, data, 1<<20)
	})
}

// TestWalkMatchesOneRowAtATime checks the walk in stretches against the
// walk one row at a time on the rows of one cycle, and that it declines,
// leaving the rows as they were, when they form several cycles (a block
// no encoder writes, but whose output compress/bzip2 defines) or are few.
func TestWalkMatchesOneRowAtATime(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 18))
	// rows links the rows of each cycle, in random order, and returns them
	// as unsort's next.
	rows := func(n int, cycles ...int) []uint32 {
		next := make([]uint32, n)
		order := rng.Perm(n)
		for _, c := range cycles {
			cycle := order[:c]
			order = order[c:]
			for i, r := range cycle {
				next[r] = uint32(cycle[(i+1)%c])<<8 | uint32(rng.IntN(256))
			}
		}
		return next
	}
	var d segDecoder
	d.pre = make([]byte, preSize)
	for _, c := range []struct {
		n      int
		cycles []int
		whole  bool
	}{
		{n: 900000, cycles: []int{900000}, whole: true},
		{n: minParallel, cycles: []int{minParallel}, whole: true},
		{n: minParallel - 1, cycles: []int{minParallel - 1}},
		{n: 100000, cycles: []int{99999, 1}},
		{n: 100000, cycles: []int{50000, 50000}},
		{n: 100000, cycles: []int{3, 99997}},
	} {
		next := rows(c.n, c.cycles...)
		before := slices.Clone(next)
		for _, first := range []uint32{0, uint32(c.n / 2), uint32(c.n - 1)} {
			want := make([]byte, c.n)
			for i, row := 0, first; i < c.n; i++ {
				want[i] = byte(next[row])
				row = next[row] >> 8
			}
			pieces := d.walk(next, first)
			if !slices.Equal(next, before) {
				t.Fatalf("%d rows in cycles %v: the walk left its marks", c.n, c.cycles)
			}
			if (pieces != nil) != c.whole {
				t.Fatalf("%d rows in cycles %v from %d: walked in stretches: %v", c.n, c.cycles, first, pieces != nil)
			}
			if got := bytes.Join(pieces, nil); pieces != nil && !bytes.Equal(got, want) {
				t.Fatalf("%d rows from %d: %d bytes differ from the walk one row at a time", c.n, first, len(got))
			}
		}
	}
}
