package pbzip2

import (
	"bytes"
	"compress/bzip2"
	"io"
	"math/rand/v2"
	"testing"
)

// oneStream writes a single level-9 bzip2 stream with one block per chunk
// (chunks must fit a block), the way bzip2 writes long input, so that tests
// can place block boundaries. A chunk listed in badCRC gets a wrong stored
// CRC.
func oneStream(t testing.TB, chunks [][]byte, badCRC ...int) []byte {
	t.Helper()
	var e encoder
	e.bw.writeBits(32, 'B'<<24|'Z'<<16|'h'<<8|'9')
	var combined uint32
	for i, c := range chunks {
		var n int
		e.block, n = rle1(e.block[:0], c)
		if n != len(c) {
			t.Fatalf("chunk %d does not fit a block", i)
		}
		crc := updateCRC(0, c)
		for _, b := range badCRC {
			if b == i {
				crc ^= 1
			}
		}
		combined = (combined<<1 | combined>>31) ^ crc
		if err := e.encodeBlock(crc); err != nil {
			t.Fatal(err)
		}
	}
	e.bw.writeBits(24, finalMagic>>24)
	e.bw.writeBits(24, finalMagic&0xffffff)
	e.bw.writeBits(32, combined)
	e.bw.align()
	return e.bw.out
}

// magicAlphabet is a set of bytes whose block header holds the block magic:
// the symbol map of a block of exactly these bytes is 0x3141 (ranges 2, 3,
// 7, 9 and 15 used), then 0x5926 and 0x5359 (the bytes of ranges 2 and 3),
// 105 bits after the block's own magic, so at every bit offset as blocks
// move.
var magicAlphabet = []byte{
	0x21, 0x23, 0x24, 0x27, 0x2a, 0x2d, 0x2e, // 0x5926
	0x31, 0x33, 0x36, 0x37, 0x39, 0x3b, 0x3c, 0x3f, // 0x5359
	0x70, 0x90, 0xf0,
}

// falseMagicStream returns a single stream of small blocks, each with a
// false block magic in its header, and the data it holds.
func falseMagicStream(t testing.TB, blocks int, seed uint64) ([]byte, []byte) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	var chunks [][]byte
	var all []byte
	for range blocks {
		c := make([]byte, 200+rng.IntN(600))
		for i := range c {
			c[i] = magicAlphabet[rng.IntN(len(magicAlphabet))]
		}
		copy(c, magicAlphabet) // every byte of the alphabet occurs
		chunks = append(chunks, c)
		all = append(all, c...)
	}
	return oneStream(t, chunks), all
}

// decodeMode decodes data with a Reader and reports whether it decoded all
// of it in parallel (never falling back to the sequential decode).
func decodeMode(t testing.TB, data []byte, opts ...Option) ([]byte, bool) {
	t.Helper()
	z, err := NewReader(bytes.NewReader(data), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	out, err := readAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return out, !z.seqMode.Load()
}

func TestDecodesBlocksOfOneStreamInParallel(t *testing.T) {
	in := payload(t, 5<<20, 41)
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"bzip2 -9", program(t, in, "bzip2", "-9c")},
		{"bzip2 -1", program(t, in, "bzip2", "-1c")},
		{"lbzip2 -9", program(t, in, "lbzip2", "-9c", "-n2")},
		{"two streams of blocks", concat(program(t, in[:3<<20], "bzip2", "-9c"), program(t, in[3<<20:], "lbzip2", "-9c", "-n2"))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkLikeStdlib(t, tt.data); err != nil {
				t.Fatal(err)
			}
			for _, workers := range []int{1, 2, 3} {
				out, parallel := decodeMode(t, tt.data, Workers(workers))
				if !bytes.Equal(out, in) {
					t.Fatalf("%d workers: wrong output", workers)
				}
				if !parallel {
					t.Fatalf("%d workers: fell back to the sequential decode", workers)
				}
			}
		})
	}
}

// TestSurvivesFalseBlockMagic decodes single streams whose every block
// header holds the block magic at a bit offset: where the Reader cuts the
// input at one, the output and the error stay those of compress/bzip2.
func TestSurvivesFalseBlockMagic(t *testing.T) {
	cutAtFalse := false
	for seed := range uint64(4) {
		data, want := falseMagicStream(t, 1500, seed)
		if err := checkLikeStdlib(t, data); err != nil {
			t.Fatal(err)
		}
		out, parallel := decodeMode(t, data, Workers(2), withLimits(4096, 1000))
		if !bytes.Equal(out, want) {
			t.Fatal("wrong output")
		}
		cutAtFalse = cutAtFalse || !parallel
		// Corrupted anywhere, it fails as compress/bzip2 fails.
		rng := rand.New(rand.NewPCG(seed, 99))
		for range 8 {
			bad := bytes.Clone(data)
			bad[rng.IntN(len(bad))] ^= byte(1 + rng.IntN(255))
			checkLikeStdlib(t, bad)
		}
		checkLikeStdlib(t, data[:len(data)*2/3])
	}
	if !cutAtFalse {
		t.Fatal("no cut fell on a false block magic; the test tests nothing")
	}
}

// TestRejectsBadBlockCRCAfterStreaming decodes a single stream with a block
// that decodes to more than a worker's buffer, so that its output reaches
// Read before its CRC is checked, and whose CRC is wrong: the output and
// the error are compress/bzip2's (the whole block, then "block checksum
// mismatch").
func TestRejectsBadBlockCRCAfterStreaming(t *testing.T) {
	small := payload(t, 300000, 42)
	zeros := make([]byte, blockMax/5*255)
	bomb := oneStream(t, [][]byte{small, small[:100000], zeros, small, small}, 2)
	if err := checkLikeStdlib(t, bomb); err == nil {
		t.Fatal("compress/bzip2 accepts a bad block CRC")
	}
	// And the same stream with the right CRC decodes in parallel.
	good := oneStream(t, [][]byte{small, small[:100000], zeros, small, small})
	if _, parallel := decodeMode(t, good, Workers(2)); !parallel {
		t.Fatal("fell back to the sequential decode")
	}
}

func TestResumePrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range 64 {
		crc, bit, level := rng.Uint32(), i%8, 1+i%9
		if i == 0 {
			crc = 0
		}
		w := forceCRC(crc)
		if got := updateCRC(0, w[:]); got != crc {
			t.Fatalf("forceCRC(%#x) has CRC %#x", crc, got)
		}
		p, err := resumePrefix(level, crc, bit)
		if err != nil {
			t.Fatal(err)
		}
		if p[3] != byte('0'+level) {
			t.Fatalf("level %d: header %q", level, p[:4])
		}
		// The prefix, then the end of the stream: the end-of-stream magic
		// and the combined CRC, which is the prefix block's.
		bw := bitWriter{out: p[:len(p)-1]}
		if bit == 0 {
			bw.out = p
		} else {
			bw.writeBits(uint(bit), uint32(p[len(p)-1]>>(8-bit)))
		}
		bw.writeBits(24, finalMagic>>24)
		bw.writeBits(24, finalMagic&0xffffff)
		bw.writeBits(32, crc)
		bw.align()
		out, err := io.ReadAll(bzip2.NewReader(bytes.NewReader(bw.out)))
		if err != nil || !bytes.Equal(out, w[:]) {
			t.Fatalf("crc %#x bit %d: %q, %v", crc, bit, out, err)
		}
	}
}

func TestFindBlock(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	slow := func(b []byte, from int) int {
		for q := from; q+48 <= 8*len(b); q++ {
			if blockAt(b, q/8, q%8) {
				return q
			}
		}
		return -1
	}
	for i := range 3000 {
		b := make([]byte, 1+rng.IntN(40))
		for j := range b {
			b[j] = byte(rng.IntN(4)) // mostly not a magic
		}
		for range 1 + rng.IntN(3) {
			q := rng.IntN(8 * len(b))
			for k := range 48 {
				if q+k >= 8*len(b) {
					break
				}
				bit := byte(uint64(blockMagic) >> (47 - k) & 1)
				p := q + k
				b[p/8] = b[p/8]&^(0x80>>(p%8)) | bit<<(7-p%8)
			}
		}
		from := rng.IntN(8*len(b) + 1)
		if i%3 == 0 {
			from = 0
		}
		if got, want := findBlock(b, from), slow(b, from); got != want {
			t.Fatalf("findBlock(%x, %d) = %d, want %d", b, from, got, want)
		}
	}
}
