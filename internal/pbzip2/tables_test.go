package pbzip2

import (
	"bytes"
	"container/heap"
	"math/rand/v2"
	"testing"
)

// huffmanCost returns the cost (sum of frequency × length) of an optimal
// prefix code without a length limit, by the classic merging of the two
// least frequent subtrees.
func huffmanCost(freq []int32) int64 {
	h := &int64Heap{}
	for _, f := range freq {
		heap.Push(h, int64(f))
	}
	cost := int64(0)
	for h.Len() > 1 {
		a, b := heap.Pop(h).(int64), heap.Pop(h).(int64)
		cost += a + b
		heap.Push(h, a+b)
	}
	return cost
}

type int64Heap []int64

func (h int64Heap) Len() int           { return len(h) }
func (h int64Heap) Less(i, j int) bool { return h[i] < h[j] }
func (h int64Heap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *int64Heap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *int64Heap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// TestCodeLengths checks that code lengths form a complete prefix code
// within the limit and, when the limit does not bind, cost what Huffman's
// algorithm gives.
func TestCodeLengths(t *testing.T) {
	rng := rand.New(rand.NewPCG(40, 40))
	for trial := range 2000 {
		n := 2 + rng.IntN(maxAlpha-1)
		freq := make([]int32, n)
		skew := rng.IntN(4)
		for i := range freq {
			switch skew {
			case 0:
				freq[i] = int32(rng.IntN(1000))
			case 1:
				freq[i] = int32(rng.IntN(3)) // many zeros and ties
			default:
				freq[i] = int32(1 << rng.IntN(24)) // forces long codes
			}
		}
		limit := maxCodeLen
		if trial%3 == 0 {
			limit = 9 + rng.IntN(maxCodeLen-8)
		}
		if n > 1<<limit {
			continue
		}
		lens := make([]uint8, n)
		codeLengths(lens, freq, limit)
		kraft, cost, longest := 0, int64(0), 0
		for i, l := range lens {
			if l < 1 || int(l) > limit {
				t.Fatalf("trial %d: length %d outside 1..%d", trial, l, limit)
			}
			kraft += 1 << (limit - int(l))
			cost += int64(freq[i]) * int64(l)
			longest = max(longest, int(l))
		}
		if kraft != 1<<limit {
			t.Fatalf("trial %d: code not complete (Kraft sum %d/%d)", trial, kraft, 1<<limit)
		}
		if opt := huffmanCost(freq); cost < opt || (longest < limit && cost != opt) {
			t.Fatalf("trial %d: cost %d, Huffman %d (longest %d, limit %d)", trial, cost, opt, longest, limit)
		}
	}
}

// TestCanonicalCodes checks that codes are prefix-free and ordered by
// length, then symbol, as decoders assume.
func TestCanonicalCodes(t *testing.T) {
	// Length 2: symbols 1, 4; length 3: 0, 5, 6; length 4: 2, 3.
	lens := []uint8{3, 2, 4, 4, 2, 3, 3}
	want := []uint32{0b100, 0b00, 0b1110, 0b1111, 0b01, 0b101, 0b110}
	codes := make([]uint32, len(lens))
	canonicalCodes(codes, lens)
	for i := range codes {
		if codes[i] != want[i] {
			t.Fatalf("symbol %d: code %b, want %b", i, codes[i], want[i])
		}
	}
}

// FuzzWriterRoundTrip checks that compress/bzip2 decodes Writer's output
// to the input, whatever the input.
func FuzzWriterRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("hello, hello, hello, world\n"))
	f.Add(bytes.Repeat([]byte("aaaab"), 200))
	f.Add(bytes.Repeat([]byte{0}, 3000))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := stdlibDecode(compress(t, in, Workers(1)))
		if err != nil || !bytes.Equal(got, in) {
			t.Fatalf("compress/bzip2: %v, %d bytes, want %d", err, len(got), len(in))
		}
	})
}
