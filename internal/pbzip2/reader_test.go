package pbzip2

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// testStreams returns compressed inputs made by bzip2 -9, bzip2 -1 and
// Writer, and their uncompressed data.
func testStreams(t *testing.T, n int) (in []byte, bz9, bz1, ours []byte) {
	t.Helper()
	in = payload(t, n, 10)
	return in, program(t, in, "bzip2", "-9c"), program(t, in, "bzip2", "-1c"), compress(t, in)
}

// smallFiles returns, for tests that decode many variants of a file, three
// streams written by Writer (and where the first ends), and one stream of
// three blocks written by bzip2 -1.
func smallFiles(t *testing.T) (streams, blocks []byte, firstEnd int) {
	t.Helper()
	first := compress(t, payload(t, 120000, 31))
	streams = concat(first, compress(t, payload(t, 90000, 32)), compress(t, payload(t, 150000, 33)))
	return streams, program(t, payload(t, 280000, 34), "bzip2", "-1c"), len(first)
}

func TestReaderMatchesStdlib(t *testing.T) {
	in, bz9, bz1, ours := testStreams(t, 2<<20+5000)
	small := payload(t, 100000, 11)
	empty := program(t, nil, "bzip2", "-9c")
	var parts []byte // pbzip2-style: the bzip2 program on 900 kB pieces
	for p := in; len(p) > 0; p = p[min(len(p), 900000):] {
		parts = append(parts, program(t, p[:min(len(p), 900000)], "bzip2", "-9c")...)
	}
	mixed := concat(program(t, small, "bzip2", "-1c"), ours, empty, bz9, compress(t, small), empty)
	tests := []struct {
		name string
		data []byte
		want []byte
	}{
		{"bzip2 -9", bz9, in},
		{"bzip2 -1", bz1, in},
		{"Writer", ours, in},
		{"bzip2 -9 pieces", parts, in},
		{"empty stream", empty, nil},
		{"mixed concatenation", mixed, concat(small, in, in, small)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkLikeStdlib(t, tt.data); err != nil {
				t.Fatal(err)
			}
			got, err := ourDecode(t, tt.data, nil)
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("got %d bytes, %v; want %d bytes", len(got), err, len(tt.want))
			}
		})
	}
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// bitmapBytes returns byte values whose bzip2 symbol bitmap (16 bits of
// used ranges, then 16 bits per used range) holds a complete stream header
// at bit off (0 to 15): choosing which byte values a block uses chooses
// those bits. It returns nil if no set of values can.
func bitmapBytes(off int) []byte {
	pattern := append([]byte("BZh9"), blockMagicBytes...)
	var want [16 + 16*16]bool
	for i := range len(pattern) * 8 {
		want[off+i] = pattern[i/8]&(0x80>>(i%8)) != 0
	}
	words := (off + len(pattern)*8 - 16 + 15) / 16 // range words the pattern reaches
	ranges := 0
	for _, w := range want[:16] {
		if w {
			ranges++
		}
	}
	for i := 0; i < off && ranges < words; i++ {
		if !want[i] {
			want[i] = true
			ranges++
		}
	}
	if ranges < words {
		return nil
	}
	var used []byte
	for w, r := 0, 0; r < 16; r++ {
		if !want[r] {
			continue
		}
		word := want[16+16*w : 32+16*w]
		any := false
		for j := range word {
			if 16+16*w+j >= off+len(pattern)*8 {
				word[j] = true // past the pattern: free
			}
			if word[j] {
				used = append(used, byte(16*r+j))
				any = true
			}
		}
		if !any {
			return nil
		}
		w++
	}
	return used
}

// fromBytes returns n bytes drawn from used, no two neighbours equal.
func fromBytes(used []byte, n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 3))
	data := make([]byte, n)
	for i := range data {
		for data[i] = used[rng.IntN(len(used))]; i > 0 && data[i] == data[i-1]; {
			data[i] = used[rng.IntN(len(used))]
		}
	}
	return data
}

// headerInBitmap returns a one-block stream with a stream header at byte 18
// (its bitmap starts at bit 137), where both Writer and bzip2 -9 write it.
func headerInBitmap(t *testing.T, seed uint64) (stream, data []byte) {
	t.Helper()
	data = fromBytes(bitmapBytes(7), 5000, seed)
	stream = compress(t, data)
	if findHeader(stream, 1) != 18 {
		t.Fatalf("crafted stream does not hold a header at byte 18: % x", stream[:30])
	}
	if ref := program(t, data, "bzip2", "-9c"); !bytes.Equal(ref[:18+headerLen], stream[:18+headerLen]) {
		t.Fatalf("bzip2 -9 does not write the same header at byte 18: % x", ref[:30])
	}
	return stream, data
}

// headerDeepInStream returns a two-block stream whose second block holds a
// stream header about 900 kB into the stream, where Reader may cut.
func headerDeepInStream(t *testing.T) (stream, data []byte) {
	t.Helper()
	for seed := uint64(0); seed < 20; seed++ {
		first := randomBytes(blockMax, 100+seed) // fills the first block
		var e encoder
		e.bw.writeBits(32, 'B'<<24|'Z'<<16|'h'<<8|'9')
		e.block, _ = rle1(nil, first)
		if err := e.encodeBlock(updateCRC(0, first)); err != nil {
			t.Fatal(err)
		}
		bitmap := len(e.bw.out)*8 + int(e.bw.nacc) + 105 // after the block header
		off := (8 - bitmap%8) % 8
		used := bitmapBytes(off)
		if used == nil {
			continue
		}
		data = concat(first, fromBytes(used, 5000, seed))
		stream, err := e.encodeStream(nil, data)
		if err != nil {
			t.Fatal(err)
		}
		if p := (bitmap + off) / 8; findHeader(stream, minSegment) != p {
			t.Fatalf("crafted stream does not hold a header at byte %d", p)
		}
		return stream, data
	}
	t.Fatal("no alignment allows a header in the second block's bitmap")
	return nil, nil
}

// rawBlockStream returns a one-block stream whose block holds the given
// bytes after the first run-length stage, as they are, with the given CRC.
func rawBlockStream(t *testing.T, block []byte, crc uint32) []byte {
	t.Helper()
	var e encoder
	e.bw.writeBits(32, 'B'<<24|'Z'<<16|'h'<<8|'9')
	e.block = block
	if err := e.encodeBlock(crc); err != nil {
		t.Fatal(err)
	}
	e.bw.writeBits(24, finalMagic>>24)
	e.bw.writeBits(24, finalMagic&0xffffff)
	e.bw.writeBits(32, crc)
	e.bw.align()
	return e.bw.out
}

// TestRejectsZeroRunCountMisread crafts a block where a run count of zero
// is followed by more of the same byte ("aaaa\x00aaab"), which no encoder
// writes and which decoders read differently: compress/bzip2 as 105 a's,
// bzip2 as "aaaaaaab". With the CRC of either reading, Reader must return
// exactly what compress/bzip2 returns, error included.
func TestRejectsZeroRunCountMisread(t *testing.T) {
	block := []byte("aaaa\x00aaab")
	stdlib := bytes.Repeat([]byte("a"), 105)
	other := []byte("aaaaaaab")
	for _, data := range [][]byte{stdlib, other} {
		stream := rawBlockStream(t, block, updateCRC(0, data))
		for _, in := range [][]byte{stream, concat(compress(t, payload(t, 100000, 60)), stream)} {
			err := checkLikeStdlib(t, in)
			if (err == nil) != bytes.Equal(data, stdlib) {
				t.Fatalf("CRC of %q: compress/bzip2 error %v", data, err)
			}
		}
	}
}

// TestRejectsFalseHeader checks that a stream header pattern inside a
// stream's data neither corrupts the output nor hides an error.
func TestRejectsFalseHeader(t *testing.T) {
	s1, d1 := headerInBitmap(t, 1)
	s2, d2 := headerInBitmap(t, 2)
	deep, dd := headerDeepInStream(t)
	small := payload(t, 50000, 12)
	cs := compress(t, small)
	tests := []struct {
		name string
		data []byte
		want []byte // nil: compress/bzip2 rejects it
	}{
		{"alone", s1, d1},
		{"between streams", concat(cs, s1, cs, s2), concat(small, d1, small, d2)},
		{"last, cut after the false header", concat(cs, s1[:30]), nil},
		{"false header's stream truncated", concat(s1[:len(s1)-1], cs), nil},
		{"only the false header", concat(cs, s1[18:]), nil},
		{"deep in a stream", concat(cs, deep, cs), concat(small, dd, small)},
		{"deep, truncated after it", concat(cs, deep[:len(deep)-1000]), nil},
		{"deep, from it on", concat(cs, deep[findHeader(deep, minSegment):]), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkLikeStdlib(t, tt.data)
			if (err == nil) != (tt.want != nil) {
				t.Fatalf("compress/bzip2 error %v; test expects success %v", err, tt.want != nil)
			}
			if tt.want != nil {
				got, _ := ourDecode(t, tt.data, nil)
				if !bytes.Equal(got, tt.want) {
					t.Fatalf("got %d bytes, want %d", len(got), len(tt.want))
				}
			}
		})
	}
}

func TestRejectsTruncatedInput(t *testing.T) {
	streams, blocks, firstEnd := smallFiles(t)
	data := concat(streams, blocks)
	streamEnd := len(streams)
	cuts := []int{1, 2, 3, 4, 10, 14, 100, firstEnd - 1, firstEnd + 1, firstEnd + 10,
		streamEnd - 1, streamEnd + 1, streamEnd + 10, len(data) - 1}
	rng := rand.New(rand.NewPCG(13, 13))
	for range 10 {
		cuts = append(cuts, 1+rng.IntN(len(data)-1))
	}
	for _, cut := range cuts {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			if err := checkLikeStdlib(t, data[:cut]); err == nil {
				t.Fatalf("compress/bzip2 accepts input cut at %d", cut)
			}
		})
	}
	t.Run("at stream end", func(t *testing.T) {
		if err := checkLikeStdlib(t, data[:streamEnd]); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRejectsCorruptedByte(t *testing.T) {
	streams, blocks, _ := smallFiles(t)
	rng := rand.New(rand.NewPCG(14, 14))
	for _, data := range [][]byte{streams, blocks} {
		positions := []int{0, 1, 2, 3, 4, 9, 13, 14, 20, 40, len(data) - 1, len(data) - 5}
		for range 12 {
			positions = append(positions, rng.IntN(len(data)))
		}
		for _, pos := range positions {
			bad := bytes.Clone(data)
			bad[pos] ^= byte(1 + rng.IntN(255))
			if pos == len(data)-1 {
				bad[pos] = bad[pos]&0x7f | ^data[pos]&0x80 // a CRC bit, not only padding
			}
			t.Run(fmt.Sprint(len(data), "/", pos), func(t *testing.T) {
				if err := checkLikeStdlib(t, bad); err == nil {
					t.Fatalf("compress/bzip2 accepts a corrupted byte at %d", pos)
				}
			})
		}
	}
}

func TestTrailingGarbageLikeStdlib(t *testing.T) {
	small := payload(t, 200000, 15)
	cs := compress(t, small)
	for _, tail := range []string{"x", "B", "BZ", "BZh", "BZh9", "BZh0", "BZh91AY&SY", "\x00\x00\x00", string(cs[:40])} {
		t.Run(fmt.Sprintf("%q", tail), func(t *testing.T) {
			checkLikeStdlib(t, concat(cs, []byte(tail)))
			checkLikeStdlib(t, concat(cs, cs, []byte(tail)))
		})
	}
}

// errAfter returns data and then err.
type errAfter struct {
	data []byte
	err  error
}

func (r *errAfter) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

var errNetwork = errors.New("connection reset")

func TestSurvivesReadError(t *testing.T) {
	streams, blocks, _ := smallFiles(t)
	for _, data := range [][]byte{streams, blocks} {
		for _, cut := range []int{0, 5, len(data) / 2, len(data)} {
			want, wantErr := stdlibRead(&errAfter{data[:cut], errNetwork}, maxCompare)
			for _, c := range readerConfigs {
				got, err := ourDecode(t, nil, &errAfter{data[:cut], errNetwork}, c.opts...)
				if !errors.Is(err, errNetwork) || !errors.Is(wantErr, errNetwork) {
					t.Fatalf("%s, cut %d: error %v, compress/bzip2 %v; want %v", c.name, cut, err, wantErr, errNetwork)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s, cut %d: %d bytes, compress/bzip2 %d", c.name, cut, len(got), len(want))
				}
			}
		}
	}
}

// TestFallbackKeepsDecodedInput checks that segments the workers decoded
// after one they could not decode still reach the sequential decode whole:
// a long stream (more output than a segment may hold) followed by many
// short ones, decoded with small limits so that the workers run ahead.
func TestFallbackKeepsDecodedInput(t *testing.T) {
	big := payload(t, 200000, 16)
	data := compress(t, big)
	want := big
	for i := range 40 {
		small := randomBytes(12000, uint64(100+i))
		data = concat(data, compress(t, small))
		want = concat(want, small)
	}
	for i := range 10 {
		got, err := ourDecode(t, data, nil, Workers(2+i%3), withLimits(64<<10, 40<<10))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("run %d: %d bytes, %v; want %d bytes", i, len(got), err, len(want))
		}
	}
}

// compressibleRun returns input with a stretch of very compressible data
// (each 1 MiB chunk compresses to a short stream, so that several share a
// segment and decode to more than a worker's buffer) between two stretches
// of ordinary data, and its compressed form as Writer writes it.
func compressibleRun(t *testing.T, runMiB, edgeMiB int) (in, data []byte) {
	t.Helper()
	run := bytes.Repeat([]byte("0123456789abcdef"), runMiB<<20/16)
	for i := 0; i < len(run); i += 40000 {
		run[i] = byte(i >> 8) // not one run: a short stream, not a tiny one
	}
	in = concat(payload(t, edgeMiB<<20, 40), run, payload(t, edgeMiB<<20, 41))
	return in, compress(t, in)
}

// TestDecodesCompressibleRunInParallel checks that a stretch of very
// compressible data, whose short streams share segments that decode to
// more than a worker's buffer, is decoded without falling back to the
// sequential decode for the rest of the input, within the memory bound.
func TestDecodesCompressibleRunInParallel(t *testing.T) {
	in, data := compressibleRun(t, 12, 3)
	want := sha256.Sum256(in)
	for _, workers := range []int{1, 2} {
		z, err := NewReader(bytes.NewReader(data), Workers(workers))
		if err != nil {
			t.Fatal(err)
		}
		h := newHeapPeak(16)
		got, n := sha256.New(), 0
		buf := make([]byte, 1<<16)
		for {
			h.sample()
			k, err := z.Read(buf)
			got.Write(buf[:k])
			n += k
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		seq := z.seqMode.Load()
		z.Close()
		if !bytes.Equal(got.Sum(nil), want[:]) {
			t.Fatalf("%d workers: %d bytes, not the input's %d", workers, n, len(in))
		}
		if seq {
			t.Fatalf("%d workers: fell back to the sequential decode", workers)
		}
		if h.peak > liveBound(workers) {
			t.Fatalf("%d workers: held %d MiB", workers, h.peak>>20)
		}
	}
}

// TestRejectsCorruptCompressibleRun corrupts the short streams of a
// compressible stretch, where the emitter rather than a worker decodes
// them, and appends what is not a stream after them: output and error must
// be compress/bzip2's.
func TestRejectsCorruptCompressibleRun(t *testing.T) {
	_, data := compressibleRun(t, 8, 1)
	var starts []int // stream starts within the compressible stretch
	for p := findHeader(data, 0); p >= 0; p = findHeader(data, p+1) {
		starts = append(starts, p)
	}
	var short []int
	for i := 1; i+1 < len(starts); i++ {
		if starts[i+1]-starts[i] < minSegment/2 {
			short = append(short, i)
		}
	}
	if len(short) < 6 {
		t.Fatalf("only %d short streams: the test no longer covers shared segments", len(short))
	}
	rng := rand.New(rand.NewPCG(50, 50))
	for _, i := range []int{short[1], short[len(short)/2], short[len(short)-1]} {
		bad := bytes.Clone(data)
		bad[starts[i]+20+rng.IntN(starts[i+1]-starts[i]-20)] ^= 1 << rng.IntN(8)
		if checkLikeStdlib(t, bad) == nil {
			t.Fatalf("stream %d corrupted: no error", i)
		}
		for _, tail := range []string{"x", "BZh9"} {
			cut := concat(data[:starts[i]], []byte(tail))
			if checkLikeStdlib(t, cut) == nil {
				t.Fatalf("cut before stream %d, %q appended: no error", i, tail)
			}
		}
	}
}
