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
// block it was made from, and that it declines, leaving the rows as they
// were, when the rows form several cycles (a periodic block, or a column
// no BWT makes, whose output compress/bzip2 still defines) or are few.
func TestWalkMatchesOneRowAtATime(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 18))
	var e encoder
	var d segDecoder
	d.next = make([]uint32, nextSize)
	random := make([]byte, 100000)
	for i := range random {
		random[i] = byte(rng.IntN(7))
	}
	for _, c := range []struct {
		name   string
		block  []byte // the block, or nil for a random column
		cycles int    // the cycles of its rows
		whole  bool   // walked in stretches
	}{
		{"900000 bytes", payload(t, 900000, 18), 1, true},
		{"shortest walked in stretches", payload(t, minParallel, 19), 1, true},
		{"one byte shorter", payload(t, minParallel-1, 20), 1, false},
		{"periodic", bytes.Repeat([]byte("0123456789abcdef"), 8192), 8192, false},
		{"random column", nil, 0, false},
	} {
		last, orig := random, 0
		if c.block != nil {
			last = make([]byte, len(c.block))
			var err error
			if orig, err = e.bwt(c.block, last); err != nil {
				t.Fatal(err)
			}
		}
		n := len(last)
		// The rows, worked out plainly: the k-th row starting with byte b
		// is followed by the row ending in the k-th b.
		first := slices.Clone(last)
		slices.Sort(first)
		var seen [256][]int
		for i, b := range last {
			seen[b] = append(seen[b], i)
		}
		after := make([]int, 0, n)
		for _, l := range seen {
			after = append(after, l...)
		}
		want := make([]byte, n)
		for i, row := 0, orig; i < n; i++ {
			want[i] = first[row]
			row = after[row]
		}
		if c.block != nil && !bytes.Equal(want, c.block) {
			t.Fatalf("%s: the plain walk does not give the block back", c.name)
		}
		cycles := 0
		done := make([]bool, n)
		for r := range n {
			if !done[r] {
				cycles++
				for x := r; !done[x]; x = after[x] {
					done[x] = true
				}
			}
		}
		if c.block == nil {
			c.cycles = cycles
			if cycles < 2 {
				t.Fatalf("%s: %d cycles, want several", c.name, cycles)
			}
		}
		if cycles != c.cycles {
			t.Fatalf("%s: %d cycles, want %d", c.name, cycles, c.cycles)
		}

		var counts [256]int
		for _, b := range last {
			counts[b]++
		}
		for i, b := range last {
			d.next[i] = uint32(b) << 24
		}
		var col column
		d.index(n, &counts, &col)
		for i, v := range d.next[:n] {
			if int(v&rowMask) != after[i] {
				t.Fatalf("%s: row %d is followed by %d, want %d", c.name, i, v&rowMask, after[i])
			}
		}
		before := slices.Clone(d.next[:n])
		pieces := d.walk(n, &col, uint32(orig))
		if (pieces != nil) != c.whole {
			t.Fatalf("%s: walked in stretches: %v, want %v", c.name, pieces != nil, c.whole)
		}
		// The top bytes are the walk's to write; the rows must stay.
		for i, v := range d.next[:n] {
			if v&^byteBits != before[i]&^byteBits {
				t.Fatalf("%s: the walk changed row %d or left its mark", c.name, i)
			}
		}
		var got []byte
		for _, p := range pieces {
			for _, v := range p {
				got = append(got, byte(v>>24))
			}
		}
		if pieces != nil && !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes differ from the block", c.name, len(got))
		}
	}
}
