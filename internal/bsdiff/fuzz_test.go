package bsdiff

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// FuzzPatch applies arbitrary patches to arbitrary old files, the expected
// size taken from the patch's header (so that the fuzzer gets past that
// check) when it is small. Properties: Patch never writes past newSize
// (patch panics if it does); it succeeds only having written exactly
// newSize bytes; every error is ErrCorrupt or ErrSize, since old and out
// never fail; and it is deterministic.
func FuzzPatch(f *testing.F) {
	rng := rand.New(rand.NewPCG(9, 10))
	base := randomBytes(rng, 3000)
	text := bytes.Repeat([]byte("abcabd"), 300)
	for _, c := range []struct{ old, new []byte }{
		{nil, nil},
		{nil, []byte("hello")},
		{old10, []byte("1234ab12")},
		{base, mutate(rng, base, 0.01)},
		{text, mutate(rng, text, 0.02)},
	} {
		f.Add(c.old, diff(f, c.old, c.new))
	}
	f.Fuzz(func(t *testing.T, old, p []byte) {
		newSize := int64(0)
		if len(p) >= headerSize {
			if v := int64(binary.LittleEndian.Uint64(p[24:])); v >= 0 && v <= 1<<20 {
				newSize = v
			}
		}
		got, err := patch(old, p, newSize)
		if err != nil {
			if got != nil {
				t.Fatal("output returned with an error")
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrSize) {
				t.Fatalf("error is neither ErrCorrupt nor ErrSize: %v", err)
			}
		} else if int64(len(got)) != newSize {
			t.Fatalf("Patch succeeded with %d bytes, want %d", len(got), newSize)
		}
		again, err2 := patch(old, p, newSize)
		if !bytes.Equal(got, again) || (err == nil) != (err2 == nil) {
			t.Fatal("Patch is not deterministic")
		}
	})
}

// FuzzRoundTrip checks that Patch turns old into new with Diff's patch, and
// that the suffix array is sorted.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("banana"), []byte("bananas"))
	f.Add([]byte("mississippi"), []byte("missouri"))
	f.Fuzz(func(t *testing.T, old, new []byte) {
		sa := suffixArray(old)
		for i := 1; i < len(sa); i++ {
			if bytes.Compare(old[sa[i-1]:], old[sa[i]:]) >= 0 {
				t.Fatalf("suffix array not sorted at %d", i)
			}
		}
		got, err := patch(old, diff(t, old, new), int64(len(new)))
		if err != nil || !bytes.Equal(got, new) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
