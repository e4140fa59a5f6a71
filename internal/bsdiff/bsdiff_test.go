package bsdiff

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// diff returns the patch Diff writes from old to new.
func diff(t testing.TB, old, new []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Diff(&b, old, new); err != nil {
		t.Fatalf("Diff: %v", err)
	}
	return b.Bytes()
}

// limitWriter fails a write that would take it past max bytes, so that a
// test sees any attempt to write more than the expected size.
type limitWriter struct {
	buf bytes.Buffer
	max int
}

var errPastLimit = errors.New("write past the expected size")

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.max {
		return 0, errPastLimit
	}
	return w.buf.Write(p)
}

// patch applies p to old, expecting newSize bytes; the output is nil on
// error.
func patch(old, p []byte, newSize int64) ([]byte, error) {
	w := &limitWriter{max: int(max(newSize, 0))}
	err := Patch(w, bytes.NewReader(old), int64(len(old)), bytes.NewReader(p), int64(len(p)), newSize)
	if errors.Is(err, errPastLimit) {
		panic("Patch wrote past newSize")
	}
	if err != nil {
		return nil, err
	}
	return w.buf.Bytes(), nil
}

func roundTrip(t *testing.T, old, new []byte) []byte {
	t.Helper()
	p := diff(t, old, new)
	got, err := patch(old, p, int64(len(new)))
	if err != nil {
		t.Fatalf("Patch of a %d-byte patch (old %d, new %d bytes): %v", len(p), len(old), len(new), err)
	}
	if !bytes.Equal(got, new) {
		t.Fatalf("Patch output differs from new (%d vs %d bytes)", len(got), len(new))
	}
	return p
}

// mutate returns a copy of b changed in about rate of its places: bytes
// replaced, inserted or deleted, in runs of up to 8.
func mutate(rng *rand.Rand, b []byte, rate float64) []byte {
	out := make([]byte, 0, len(b)+len(b)/10)
	for i := 0; i < len(b); {
		if rng.Float64() >= rate {
			out = append(out, b[i])
			i++
			continue
		}
		n := 1 + rng.IntN(8)
		switch rng.IntN(3) {
		case 0: // replace
			for range n {
				out = append(out, byte(rng.Uint32()))
			}
			i += n
		case 1: // insert
			for range n {
				out = append(out, byte(rng.Uint32()))
			}
		case 2: // delete
			i += n
		}
	}
	return out
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	base := randomBytes(rng, 200_000)
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog\n"), 3000)
	cases := []struct {
		name     string
		old, new []byte
	}{
		{"both empty", nil, nil},
		{"old empty", nil, []byte("hello")},
		{"new empty", []byte("hello"), nil},
		{"equal", base, base},
		{"one byte", []byte{1}, []byte{2}},
		{"random to random", randomBytes(rng, 5000), randomBytes(rng, 7000)},
		{"mutated 1%", base, mutate(rng, base, 0.01)},
		{"mutated 10%", base, mutate(rng, base, 0.10)},
		{"text mutated", text, mutate(rng, text, 0.01)},
		{"zeros to zeros", make([]byte, 100_000), make([]byte, 150_000)},
		{"prefix added", base[1000:], base},
		{"halves swapped", base, append(append([]byte{}, base[100_000:]...), base[:100_000]...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { roundTrip(t, c.old, c.new) })
		t.Run(c.name+" in parts", func(t *testing.T) {
			smallParts(t, 1000)
			roundTrip(t, c.old, c.new)
		})
	}
}

// smallParts makes Diff scan new in parts of n bytes until the test ends.
func smallParts(t *testing.T, n int) {
	saved := partSize
	partSize = n
	t.Cleanup(func() { partSize = saved })
}

// TestDiffSmallForSmallChanges checks that the scan finds the matches: a
// few changes in random data give a patch far smaller than the data.
func TestDiffSmallForSmallChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	old := randomBytes(rng, 1<<20)
	new := mutate(rng, old, 0.0001)
	p := roundTrip(t, old, new)
	if len(p) > 20_000 {
		t.Errorf("patch for ~100 small changes in 1 MiB is %d bytes", len(p))
	}
}
