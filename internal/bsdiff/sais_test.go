package bsdiff

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

// naiveSuffixArray sorts the suffixes by comparing them.
func naiveSuffixArray(text []byte) []int32 {
	sa := make([]int32, len(text))
	for i := range sa {
		sa[i] = int32(i)
	}
	slices.SortFunc(sa, func(a, b int32) int { return bytes.Compare(text[a:], text[b:]) })
	return sa
}

func TestSuffixArrayMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	texts := [][]byte{nil, {0}, {5, 5}, []byte("banana"), []byte("mississippi"), []byte("abracadabra"),
		bytes.Repeat([]byte{0}, 1000), bytes.Repeat([]byte("ab"), 500), bytes.Repeat([]byte("abc"), 333)}
	for range 300 {
		n := rng.IntN(2000)
		alpha := 1 + rng.IntN(4)
		if rng.IntN(4) == 0 {
			alpha = 256
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(alpha))
		}
		texts = append(texts, b)
	}
	for _, text := range texts {
		got, want := suffixArray(text), naiveSuffixArray(text)
		if !slices.Equal(got, want) {
			t.Fatalf("suffix array of %q:\n got %v\nwant %v", text, got, want)
		}
	}
}

// TestLongestMatch compares longestMatch with a search of every position.
func TestLongestMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for range 200 {
		alpha := 1 + rng.IntN(3)
		gen := func(n int) []byte {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.IntN(alpha))
			}
			return b
		}
		old, want := gen(rng.IntN(300)), gen(rng.IntN(40))
		best := 0
		for p := range old {
			best = max(best, commonPrefix(old[p:], want))
		}
		pos, length := newIndex(old).longestMatch(want)
		if length != best || commonPrefix(old[pos:], want) != length {
			t.Fatalf("longestMatch(%v, %v) = %d, %d; longest is %d", old, want, pos, length, best)
		}
	}
}
