package bsdiff

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// A craft describes a patch made by hand: a header and three streams,
// compressed as Diff compresses them unless given compressed.
type craft struct {
	newSize     int64
	triples     [][3]int64
	diff, extra []byte
	rawCtrl     []byte // if set, the control stream, uncompressed, instead of triples
	packed      *[3][]byte
}

func (c craft) bytes(t *testing.T) []byte {
	t.Helper()
	ctrl := c.rawCtrl
	if ctrl == nil {
		var s streams
		for _, tr := range c.triples {
			var b [tripleSize]byte
			for i, v := range tr {
				putInt(b[8*i:], v)
			}
			s.ctrl = append(s.ctrl, b[:]...)
		}
		ctrl = s.ctrl
	}
	var packed [3][]byte
	if c.packed != nil {
		packed = *c.packed
	} else {
		for i, data := range [3][]byte{ctrl, c.diff, c.extra} {
			var b bytes.Buffer
			if err := compress(&b, data); err != nil {
				t.Fatal(err)
			}
			packed[i] = b.Bytes()
		}
	}
	h := header{ctrlLen: int64(len(packed[0])), diffLen: int64(len(packed[1])), newSize: c.newSize}
	return bytes.Join([][]byte{h.marshal(), packed[0], packed[1], packed[2]}, nil)
}

var old10 = []byte("0123456789")

// expectReject applies p to old10 expecting newSize bytes and checks that
// it fails with want.
func expectReject(t *testing.T, p []byte, newSize int64, want error) {
	t.Helper()
	got, err := patch(old10, p, newSize)
	if !errors.Is(err, want) {
		t.Fatalf("Patch = %q, %v; want %v", got, err, want)
	}
	t.Log(err)
}

// headerOnly is a patch that fails a test if anything after the header is
// read.
type headerOnly struct {
	t *testing.T
	p []byte
}

func (h headerOnly) ReadAt(b []byte, off int64) (int, error) {
	if off+int64(len(b)) > headerSize {
		h.t.Errorf("read of %d bytes at %d: past the header", len(b), off)
	}
	return bytes.NewReader(h.p).ReadAt(b, off)
}

// expectRejectFromHeader checks that p fails with want on its header alone.
func expectRejectFromHeader(t *testing.T, p []byte, newSize int64, want error) {
	t.Helper()
	var out bytes.Buffer
	err := Patch(&out, bytes.NewReader(old10), int64(len(old10)), headerOnly{t, p}, int64(len(p)), newSize)
	if !errors.Is(err, want) || out.Len() > 0 {
		t.Fatalf("Patch wrote %d bytes, %v; want %v", out.Len(), err, want)
	}
}

// TestCraftedPatchApplies checks that the crafted patches the attack tests
// start from are valid, so that each attack test fails for its own reason.
func TestCraftedPatchApplies(t *testing.T) {
	p := craft{newSize: 8, triples: [][3]int64{{4, 2, -3}, {2, 0, 0}}, diff: []byte{1, 1, 1, 1, 0, 0}, extra: []byte("ab")}.bytes(t)
	got, err := patch(old10, p, 8)
	if err != nil || string(got) != "1234ab12" {
		t.Fatalf("Patch = %q, %v; want 1234ab12", got, err)
	}
}

// TestRejectsPatchBomb: a patch that would write more than the signed size,
// by its header or by its triples, fails with ErrSize before writing past it.
func TestRejectsPatchBomb(t *testing.T) {
	t.Run("header", func(t *testing.T) {
		p := craft{newSize: 1 << 40, triples: [][3]int64{{0, 1 << 40, 0}}}.bytes(t)
		expectRejectFromHeader(t, p, 8, ErrSize)
	})
	t.Run("header smaller", func(t *testing.T) {
		p := craft{newSize: 4, triples: [][3]int64{{4, 0, 0}}, diff: make([]byte, 4)}.bytes(t)
		expectRejectFromHeader(t, p, 8, ErrSize)
	})
	t.Run("extra past the end", func(t *testing.T) {
		p := craft{newSize: 8, triples: [][3]int64{{4, 1 << 30, 0}}, diff: make([]byte, 4), extra: make([]byte, 1<<20)}.bytes(t)
		expectReject(t, p, 8, ErrSize)
	})
	t.Run("diff past the end", func(t *testing.T) {
		p := craft{newSize: 8, triples: [][3]int64{{9, 0, 0}}, diff: make([]byte, 9)}.bytes(t)
		expectReject(t, p, 8, ErrSize)
	})
	t.Run("overflowing lengths", func(t *testing.T) {
		p := craft{newSize: 8, triples: [][3]int64{{2, math.MaxInt64, 0}}, diff: make([]byte, 2)}.bytes(t)
		expectReject(t, p, 8, ErrSize)
	})
}

// TestRejectsPatchReadingOutsideBase: a triple may not read old bytes past
// its end, nor move before its start or past its end (bspatch reads such
// bytes as zeros; the reference bsdiff never writes them).
func TestRejectsPatchReadingOutsideBase(t *testing.T) {
	cases := map[string][][3]int64{
		"read past the end":    {{4, 0, 7}, {4, 0, 0}},
		"move before start":    {{4, 0, -5}, {4, 0, 0}},
		"move past the end":    {{4, 0, 7}, {0, 4, 0}},
		"move far":             {{0, 0, math.MaxInt64}, {8, 0, 0}},
		"move far back":        {{0, 0, -math.MaxInt64}, {8, 0, 0}},
		"diff longer than old": {{11, 0, -11}},
	}
	for name, triples := range cases {
		t.Run(name, func(t *testing.T) {
			p := craft{newSize: 11, triples: append(triples, [3]int64{0, 11, 0}), diff: make([]byte, 11), extra: make([]byte, 11)}.bytes(t)
			expectReject(t, p, 11, ErrCorrupt)
		})
	}
}

// TestRejectsPatchNegativeLength: negative lengths in a triple (the bspatch
// heap overflow, CVE-2014-9862) or in the header.
func TestRejectsPatchNegativeLength(t *testing.T) {
	for name, tr := range map[string][3]int64{"diff": {-1, 9, 0}, "extra": {9, -1, 0}} {
		t.Run(name, func(t *testing.T) {
			p := craft{newSize: 8, triples: [][3]int64{tr, {0, 8, 0}}, diff: make([]byte, 9), extra: make([]byte, 9)}.bytes(t)
			expectReject(t, p, 8, ErrCorrupt)
		})
	}
	for i, name := range []string{"control length", "diff length"} {
		t.Run(name, func(t *testing.T) {
			p := craft{newSize: 0}.bytes(t)
			putInt(p[8+8*i:], -1)
			expectRejectFromHeader(t, p, 0, ErrCorrupt)
		})
	}
}

// TestRejectsPatchNegativeZero: -0 is not an integer any writer produces.
func TestRejectsPatchNegativeZero(t *testing.T) {
	t.Run("triple", func(t *testing.T) {
		ctrl := make([]byte, tripleSize)
		putInt(ctrl[8:], 8)
		ctrl[7] = 0x80 // x = -0
		p := craft{newSize: 8, rawCtrl: ctrl, extra: make([]byte, 8)}.bytes(t)
		expectReject(t, p, 8, ErrCorrupt)
	})
	t.Run("header", func(t *testing.T) {
		p := craft{newSize: 0}.bytes(t)
		p[31] = 0x80 // newsize = -0
		expectRejectFromHeader(t, p, 0, ErrCorrupt)
	})
}

// TestRejectsPatchTruncatedStream: a stream that holds less than the
// triples use.
func TestRejectsPatchTruncatedStream(t *testing.T) {
	cases := map[string]craft{
		"diff":    {newSize: 8, triples: [][3]int64{{8, 0, 0}}, diff: make([]byte, 7)},
		"extra":   {newSize: 8, triples: [][3]int64{{0, 8, 0}}, extra: make([]byte, 7)},
		"control": {newSize: 8, rawCtrl: make([]byte, tripleSize-1), extra: make([]byte, 8)},
		"triples": {newSize: 8, triples: [][3]int64{{4, 0, 0}}, diff: make([]byte, 8)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { expectReject(t, c.bytes(t), 8, ErrCorrupt) })
	}
}

// TestRejectsPatchTrailingData: anything after what the triples use.
func TestRejectsPatchTrailingData(t *testing.T) {
	good := craft{newSize: 8, triples: [][3]int64{{4, 4, 0}}, diff: make([]byte, 4), extra: make([]byte, 4)}
	cases := map[string]craft{
		"triple":      {newSize: 8, triples: [][3]int64{{4, 4, 0}, {0, 0, 0}}, diff: make([]byte, 4), extra: make([]byte, 4)},
		"diff bytes":  {newSize: 8, triples: good.triples, diff: make([]byte, 5), extra: make([]byte, 4)},
		"extra bytes": {newSize: 8, triples: good.triples, diff: make([]byte, 4), extra: make([]byte, 5)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { expectReject(t, c.bytes(t), 8, ErrCorrupt) })
	}
	t.Run("after the last stream", func(t *testing.T) {
		p := append(good.bytes(t), "garbage"...)
		expectReject(t, p, 8, ErrCorrupt)
	})
	t.Run("between streams", func(t *testing.T) {
		p := good.bytes(t)
		h, _ := parseHeader(p)
		// Lengthen the control section by the diff stream's first 4 bytes.
		putInt(p[8:], h.ctrlLen+4)
		putInt(p[16:], h.diffLen-4)
		expectReject(t, p, 8, ErrCorrupt)
	})
}

// TestRejectsPatchEndlessTriples: a small patch whose control stream
// decompresses to a million triples that write nothing before the one that
// writes the output. Without the bound on triples it would apply, doing
// work out of all proportion to its size and newSize.
func TestRejectsPatchEndlessTriples(t *testing.T) {
	ctrl := make([]byte, tripleSize*1_000_001)
	putInt(ctrl[len(ctrl)-16:], 8) // the last triple is (0, 8, 0)
	p := craft{newSize: 8, rawCtrl: ctrl, extra: make([]byte, 8)}.bytes(t)
	if len(p) > 10_000 {
		t.Fatalf("crafted patch is %d bytes", len(p))
	}
	expectReject(t, p, 8, ErrCorrupt)
}

// TestRejectsPatchBadHeader: a header that is not BSDIFF40's, or whose
// stream lengths do not fit in the patch.
func TestRejectsPatchBadHeader(t *testing.T) {
	good := craft{newSize: 8, triples: [][3]int64{{4, 4, 0}}, diff: make([]byte, 4), extra: make([]byte, 4)}
	cases := map[string]func([]byte) []byte{
		"magic":          func(p []byte) []byte { p[7] = '1'; return p },
		"short":          func(p []byte) []byte { return p[:31] },
		"control length": func(p []byte) []byte { putInt(p[8:], int64(len(p))); return p },
		"diff length":    func(p []byte) []byte { putInt(p[16:], int64(len(p))); return p },
		"sum overflows":  func(p []byte) []byte { putInt(p[8:], math.MaxInt64); putInt(p[16:], math.MaxInt64); return p },
		"empty section":  func(p []byte) []byte { putInt(p[8:], 0); return p },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) { expectReject(t, f(good.bytes(t)), 8, ErrCorrupt) })
	}
}
