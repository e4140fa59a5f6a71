package pbzip2

import (
	"encoding/binary"
	"slices"
)

// Reader's workers decode segments with the decoder below rather than with
// compress/bzip2, whose readers cannot be reused: a new one per segment
// would allocate its 3.6 MB block state every time. This decoder keeps one
// block array per worker for good.
//
// It is deliberately strict: it accepts only what encoders write (complete
// prefix codes, one selector per group, no randomized blocks, no run cut
// off at a block's end, correct checksums, whole streams up to the last
// byte) and reports anything else as not decodable. The Reader then decodes
// from that segment on with compress/bzip2, so input the two might treat
// differently is always decoded by compress/bzip2 itself.

// A segDecoder decodes segments made of whole bzip2 streams.
type segDecoder struct {
	next  []uint32 // per BWT row: its last-column byte (low 8 bits) and next row
	br    bitReader
	limit int    // most output bytes accepted
	out   []byte // output so far
}

// decode decodes the longest run of whole, valid streams at the start of
// src whose output fits in limit bytes: it returns out[:0] with that output
// appended, the length of those streams in src (a stream boundary), and
// whether they are the whole of src. Decoding stops at the first stream
// that is invalid, runs past src or would take the output past limit.
func (d *segDecoder) decode(out, src []byte, limit int) ([]byte, int, bool) {
	d.br = bitReader{src: src}
	d.out, d.limit = out[:0], limit
	good, n := 0, 0
	for n < len(src) && d.stream() {
		good, n = len(d.out), d.br.consumed()/8
	}
	return d.out[:good], n, n > 0 && n == len(src)
}

// stream decodes one stream, from its header to its padding.
func (d *segDecoder) stream() bool {
	br := &d.br
	if br.read(24) != 'B'<<16|'Z'<<8|'h' {
		return false
	}
	level := br.read(8)
	if level < '1' || level > '9' {
		return false
	}
	maxBlock := int(level-'0') * 100000
	var combined uint32
	for {
		magic := uint64(br.read(24))<<24 | uint64(br.read(24))
		if magic == finalMagic {
			break
		}
		if magic != blockMagic || br.overrun() {
			return false
		}
		crc, ok := d.block(maxBlock)
		if !ok {
			return false
		}
		combined = (combined<<1 | combined>>31) ^ crc
	}
	if br.read(32) != combined {
		return false
	}
	return br.align() && !br.overrun()
}

// A huffTable decodes one prefix code: codes of up to fastBits bits by one
// lookup, longer ones by comparing against each length's last code.
type huffTable struct {
	fast    [1 << fastBits]uint16 // symbol<<5 | length, 0 if longer than fastBits
	limit   [maxDecLen + 2]uint32 // per length: one past its last code, left-aligned to maxDecLen bits
	base    [maxDecLen + 2]int32  // per length: index in syms of its first code, minus that code
	syms    [maxAlpha]uint16      // symbols in code order
	minLong int                   // shortest length above fastBits
}

const (
	fastBits  = 10
	maxDecLen = 20 // the format's longest code
)

// build sets up t for the code lengths lens and reports whether they form
// a complete prefix code.
func (t *huffTable) build(lens []uint8) bool {
	var count [maxDecLen + 1]int
	for _, l := range lens {
		count[l]++
	}
	kraft := 0
	for l := 1; l <= maxDecLen; l++ {
		kraft += count[l] << (maxDecLen - l)
	}
	if kraft != 1<<maxDecLen {
		return false
	}
	var first [maxDecLen + 2]int // index in syms of each length's first code
	code := uint32(0)
	idx := 0
	for l := 1; l <= maxDecLen; l++ {
		first[l] = idx
		t.base[l] = int32(idx) - int32(code)
		code += uint32(count[l])
		idx += count[l]
		t.limit[l] = code << (maxDecLen - l)
		code <<= 1
	}
	t.limit[maxDecLen+1] = 1 << maxDecLen
	for s, l := range lens {
		t.syms[first[l]] = uint16(s)
		first[l]++
	}
	clear(t.fast[:])
	t.minLong = maxDecLen + 1
	code = 0
	i := 0
	for l := 1; l <= maxDecLen; l++ {
		for range count[l] {
			if l <= fastBits {
				lo := code << (fastBits - l)
				for k := range uint32(1) << (fastBits - l) {
					t.fast[lo+k] = t.syms[i]<<5 | uint16(l)
				}
			}
			code++
			i++
		}
		if l > fastBits && count[l] > 0 {
			t.minLong = min(t.minLong, l)
		}
		code <<= 1
	}
	return true
}

// decodeSym reads one symbol coded with t.
func (t *huffTable) decodeSym(br *bitReader) uint16 {
	br.fill()
	if e := t.fast[br.acc>>(64-fastBits)]; e != 0 {
		br.acc <<= e & 31
		br.n -= uint(e & 31)
		return e >> 5
	}
	v := uint32(br.acc >> (64 - maxDecLen))
	l := t.minLong
	for v >= t.limit[l] {
		l++
	}
	br.acc <<= l
	br.n -= uint(l)
	return t.syms[t.base[l]+int32(v>>(maxDecLen-l))]
}

// block decodes one block, after its magic, and returns its CRC.
func (d *segDecoder) block(maxBlock int) (uint32, bool) {
	br := &d.br
	want := br.read(32)
	if br.read(1) != 0 { // randomized: obsolete
		return 0, false
	}
	origPtr := int(br.read(24))

	var alphabet [256]byte
	size := 0
	summary := br.read(16)
	for i := range 16 {
		if summary&(0x8000>>i) == 0 {
			continue
		}
		m := br.read(16)
		if m == 0 { // encoders leave such ranges out
			return 0, false
		}
		for j := range 16 {
			if m&(0x8000>>j) != 0 {
				alphabet[size] = byte(i*16 + j)
				size++
			}
		}
	}
	if size == 0 {
		return 0, false
	}
	alphaSize := size + 2

	nt := int(br.read(3))
	nSel := int(br.read(15))
	if nt < minTables || nt > maxTables || nSel == 0 || nSel*groupSize > maxBlock+groupSize || br.overrun() {
		return 0, false
	}
	var sel [(900000 + groupSize) / groupSize]uint8
	order := [maxTables]uint8{0, 1, 2, 3, 4, 5}
	for i := range nSel {
		j := 0
		for br.read(1) == 1 {
			if j++; j >= nt {
				return 0, false
			}
		}
		t := order[j]
		copy(order[1:j+1], order[:j])
		order[0] = t
		sel[i] = t
	}
	var tables [maxTables]huffTable
	var lens [maxAlpha]uint8
	for t := range nt {
		l := int(br.read(5))
		for s := range alphaSize {
			for {
				if l < 1 || l > maxDecLen || br.overrun() {
					return 0, false
				}
				if br.read(1) == 0 {
					break
				}
				l += 1 - 2*int(br.read(1)) // 10: up, 11: down
			}
			lens[s] = uint8(l)
		}
		if !tables[t].build(lens[:alphaSize]) {
			return 0, false
		}
	}

	// Symbols: MTF positions and runs, into the low bytes of d.next.
	if cap(d.next) < maxBlock {
		d.next = make([]uint32, 900000)
	}
	next := d.next[:maxBlock]
	var counts [256]int
	var mtf [256]byte
	copy(mtf[:], alphabet[:size])
	eob := uint16(size + 1)
	n, run, weight := 0, 0, 1
	for g := 0; ; g++ {
		if g == nSel {
			return 0, false
		}
		t := &tables[sel[g]]
		for range groupSize {
			s := t.decodeSym(br)
			if s <= runB {
				if weight > maxBlock {
					return 0, false
				}
				run += int(s+1) * weight
				weight <<= 1
				continue
			}
			if run > 0 {
				if run > maxBlock-n {
					return 0, false
				}
				b := mtf[0]
				counts[b] += run
				for i := n; i < n+run; i++ {
					next[i] = uint32(b)
				}
				n += run
				run, weight = 0, 1
			}
			if s == eob {
				if g != nSel-1 || br.overrun() || origPtr >= n {
					return 0, false
				}
				return d.unsort(next[:n], &counts, origPtr, want)
			}
			if n == maxBlock {
				return 0, false
			}
			p := int(s - 1)
			b := mtf[p]
			copy(mtf[1:p+1], mtf[:p])
			mtf[0] = b
			counts[b]++
			next[n] = uint32(b)
			n++
		}
		if br.overrun() {
			return 0, false
		}
	}
}

// unsort undoes the BWT of the last column in the low bytes of next and
// undoes the first run-length stage into d.out, checking the block's CRC.
// A row's successor is the row whose last byte is the same occurrence of
// the same value as the row's first byte.
func (d *segDecoder) unsort(next []uint32, counts *[256]int, origPtr int, want uint32) (uint32, bool) {
	var start [256]int
	sum := 0
	for b, c := range counts {
		start[b] = sum
		sum += c
	}
	for i, v := range next {
		b := byte(v)
		next[start[b]] |= uint32(i) << 8
		start[b]++
	}
	begin := len(d.out)
	out := d.out
	row := next[origPtr] >> 8
	prev, same := -1, 0
	for range len(next) {
		v := next[row]
		row = v >> 8
		b := byte(v)
		if same == 4 {
			// The byte after four equal ones counts more of them.
			k := len(out)
			if k+int(b) > d.limit {
				return 0, false
			}
			out = slices.Grow(out, int(b))[:k+int(b)]
			for i := k; i < len(out); i++ {
				out[i] = byte(prev)
			}
			// As compress/bzip2 reads it: after a count of zero the
			// byte still counts as seen once, so "aaaa\x00aaab" is
			// four a's, then a run of four more with a count of 'b'.
			// (bzip2 itself starts afresh; no encoder writes this.)
			if b == 0 {
				same = 1
			} else {
				prev, same = -1, 0
			}
			continue
		}
		if int(b) == prev {
			same++
		} else {
			prev, same = int(b), 1
		}
		if len(out) >= d.limit {
			return 0, false
		}
		out = append(out, b)
	}
	d.out = out
	if same == 4 {
		return 0, false // a run without its count
	}
	crc := updateCRC(0, out[begin:])
	return crc, crc == want
}

// bitReader reads bits most-significant first from a byte slice, reading
// zeros past its end and remembering that it did.
type bitReader struct {
	src []byte
	pos int    // next byte of src to load (may pass len(src))
	acc uint64 // loaded bits, left-aligned
	n   uint   // number of loaded bits
}

// fill loads bits until at least 57 are loaded.
func (br *bitReader) fill() {
	if br.n > 56 {
		return
	}
	if br.pos+8 <= len(br.src) {
		v := binary.BigEndian.Uint64(br.src[br.pos:])
		k := (64 - br.n) / 8 // whole bytes that fit
		br.acc |= v >> br.n &^ (^uint64(0) >> (br.n + 8*k))
		br.pos += int(k)
		br.n += 8 * k
		return
	}
	for br.n <= 56 {
		var b byte
		if br.pos < len(br.src) {
			b = br.src[br.pos]
		}
		br.acc |= uint64(b) << (56 - br.n)
		br.pos++
		br.n += 8
	}
}

// read returns the next k bits, 1 <= k <= 32.
func (br *bitReader) read(k uint) uint32 {
	br.fill()
	v := uint32(br.acc >> (64 - k))
	br.acc <<= k
	br.n -= k
	return v
}

// consumed returns the number of bits read.
func (br *bitReader) consumed() int { return 8*br.pos - int(br.n) }

// overrun reports whether more bits were read than src holds.
func (br *bitReader) overrun() bool { return br.consumed() > 8*len(br.src) }

// align skips to the next byte boundary and reports whether the bits
// skipped were zeros, as encoders write them.
func (br *bitReader) align() bool {
	if k := uint(br.consumed() % 8); k != 0 {
		return br.read(8-k) == 0
	}
	return true
}
