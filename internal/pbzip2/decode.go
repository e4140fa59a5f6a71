package pbzip2

import (
	"encoding/binary"
	"math/bits"
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

// A segDecoder decodes segments: runs of whole bzip2 streams, or of whole
// blocks from inside a stream (see run).
type segDecoder struct {
	next   []uint32   // per BWT row: the row after it, and a byte (see unsort)
	pieces [][]uint32 // the block's bytes, in pieces of next, in order (see walk)
	br     bitReader
	out    []byte // output not yet flushed (its capacity is the buffer's)
	sent   int    // output bytes flushed so far
	flush  func(d *segDecoder) bool

	st     segState
	res    point // the last place a sequential decode can take over from
	closed point // the last stream boundary
}

// A segState is where a segment's decode is in the stream structure.
type segState struct {
	inStream bool
	// head: in the stream the segment starts inside of, whose level and
	// combined CRC so far are not known to the worker (the emitter knows
	// them). Its blocks are decoded as level 9 and checked against the real
	// level later (need); its combined CRC is kept relative to the one at
	// the segment's start (crc, blocks), and its stored CRC checked later.
	head   bool
	level  int    // !head: the stream's level, '1'..'9' as a number 1..9
	crc    uint32 // combined CRC of the stream's blocks (head: relative)
	blocks int    // head: blocks decoded in this segment
	need   int    // head: the least block size (level*100000) its blocks need
	ended  bool   // the head stream ended in this segment, with:
	hcrc   uint32 // its relative combined CRC, over hblocks blocks,
	hblock int
	stored uint32 // and the CRC stored at its end
}

// A point is a place in a segment where a sequential decode can take over:
// a stream boundary (open false, bit%8 == 0) or a block boundary inside a
// stream. At a head point (only ever the segment's start) the stream state
// is the emitter's; otherwise it is level and crc.
type point struct {
	bit   int
	open  bool
	head  bool
	level int
	crc   uint32
	out   int // output bytes of the segment before it
}

// A chain is the stream state at a cut between segments.
type chain struct {
	open  bool
	level int
	crc   uint32
}

// rotate is the combined CRC of a stream after blocks more blocks, when it
// was crc before them and they alone combine to rel.
func rotate(crc uint32, blocks int, rel uint32) uint32 {
	return bits.RotateLeft32(crc, blocks%32) ^ rel
}

// fits reports whether the head state st of a segment that starts inside
// a stream (mid) or at a stream boundary agrees with the state in where
// the segment starts: the decode of its head stream is then what
// compress/bzip2 decodes there.
func (st *segState) fits(mid bool, in chain) bool {
	if mid != in.open {
		return false
	}
	if !mid {
		return true
	}
	if st.need > in.level*100000 {
		return false
	}
	return !st.ended || rotate(in.crc, st.hblock, st.hcrc) == st.stored
}

// know turns a head state into an absolute one, once it fits in.
func (st *segState) know(in chain) {
	if st.head {
		st.head = false
		st.level = in.level
		st.crc = rotate(in.crc, st.blocks, st.crc)
	}
}

// end returns the state at the segment's end, once it fits in.
func (st *segState) end(in chain) chain {
	if !st.inStream {
		return chain{}
	}
	if st.head {
		return chain{open: true, level: in.level, crc: rotate(in.crc, st.blocks, st.crc)}
	}
	return chain{open: true, level: st.level, crc: st.crc}
}

// decode decodes the longest run of whole, valid streams at the start of
// src whose output fits in limit bytes: it returns out[:0] with that output
// appended, the length of those streams in src (a stream boundary), and
// whether they are the whole of src. Decoding stops at the first stream
// that is invalid, runs past src or would take the output past limit.
func (d *segDecoder) decode(out, src []byte, limit int) ([]byte, int, bool) {
	d.out, d.sent, d.flush = out[:0:limit], 0, nil
	if len(src) > 0 && d.run(src, 0, 8*len(src), false, false) {
		return d.out, len(src), true
	}
	return d.out[:d.closed.out], d.closed.bit / 8, false
}

// run decodes the bits of src from startBit to end: whole streams, except
// that the segment starts inside a stream at a block magic if mid and ends
// inside one at a block magic if endMid. It reports whether the bits are
// exactly that; if not, d.res is where a sequential decode must take over
// to decode them as compress/bzip2 does. The output goes to d.out, handed
// to d.flush whenever it is full (no flush: decoding stops there). Every
// block's CRC is checked, and every stream's combined CRC, except those of
// a head stream (see segState), which fits checks.
func (d *segDecoder) run(src []byte, startBit, end int, mid, endMid bool) bool {
	d.br = bitReader{src: src, end: end}
	br := &d.br
	if startBit > 0 {
		br.read(uint(startBit))
	}
	st := &d.st
	*st = segState{inStream: mid, head: mid}
	d.res = point{bit: startBit, open: mid, head: mid}
	d.closed = point{bit: startBit}
	for {
		pos := br.consumed()
		if pos == end {
			return !st.inStream || endMid
		}
		if !st.inStream {
			if br.read(24) != 'B'<<16|'Z'<<8|'h' {
				return false
			}
			level := br.read(8)
			if level < '1' || level > '9' || br.overrun() {
				return false
			}
			*st = segState{inStream: true, level: int(level - '0'), ended: st.ended,
				hcrc: st.hcrc, hblock: st.hblock, stored: st.stored, need: st.need}
			continue
		}
		if !st.head {
			d.res = point{bit: pos, open: true, level: st.level, crc: st.crc, out: d.sent + len(d.out)}
		}
		magic := uint64(br.read(24))<<24 | uint64(br.read(24))
		if br.overrun() {
			return false
		}
		switch magic {
		case blockMagic:
			crc, ok := d.block()
			if !ok {
				return false
			}
			st.crc = st.crc<<1 | st.crc>>31 ^ crc
			if st.head {
				st.blocks++
			}
		case finalMagic:
			stored := br.read(32)
			if st.head {
				st.ended, st.hcrc, st.hblock, st.stored = true, st.crc, st.blocks, stored
			} else if stored != st.crc {
				return false
			}
			if !br.align() || br.overrun() {
				return false
			}
			st.inStream, st.head = false, false
			d.res = point{bit: br.consumed(), out: d.sent + len(d.out)}
			d.closed = d.res
		default:
			return false
		}
	}
}

// A huffTable decodes one prefix code: codes of up to fastBits bits by one
// lookup, longer ones by comparing against each length's last code.
type huffTable struct {
	fast    [1 << fastBits]uint16 // symbol<<5 | length, 0 if longer than fastBits
	limit   [maxDecLen + 2]uint32 // per length: one past its last code, left-aligned to maxDecLen bits
	base    [maxDecLen + 2]int32  // per length: index in syms of its first code, minus that code
	syms    [maxAlpha]uint16      // symbols in code order
	minLong int                   // shortest length above fastBits
	whole   bool                  // the code is complete (see build)
}

const (
	fastBits  = 10
	maxDecLen = 20 // the format's longest code
)

// build sets up t for the code lengths lens and reports whether they form
// a prefix code; t.whole tells whether it is complete.
func (t *huffTable) build(lens []uint8) bool {
	var count [maxDecLen + 1]int
	for _, l := range lens {
		count[l]++
	}
	kraft := 0
	for l := 1; l <= maxDecLen; l++ {
		kraft += count[l] << (maxDecLen - l)
	}
	if kraft > 1<<maxDecLen {
		return false
	}
	// compress/bzip2 reads an incomplete code differently (it skips a
	// level of its tree where a node has one child), so a table with one
	// may be read but not used. Encoders write such tables unused (lbzip2).
	t.whole = kraft == 1<<maxDecLen
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

// block decodes one block, after its magic, and returns its CRC. A block
// of a head stream is decoded as if the level were 9, and the block size
// that it needs is recorded (any size check below passes for a level
// exactly if it passes for 9 and the level's size is at least need).
func (d *segDecoder) block() (uint32, bool) {
	br := &d.br
	maxBlock := 900000
	if !d.st.head {
		maxBlock = d.st.level * 100000
	}
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

	// Symbols: MTF positions and runs, the last column, into the top
	// bytes of d.next.
	if cap(d.next) < nextSize {
		d.next = make([]uint32, nextSize)
	}
	last := d.next[:maxBlock]
	var counts [256]int
	var mtf [256]byte
	maxWeight := 0
	copy(mtf[:], alphabet[:size])
	eob := uint16(size + 1)
	n, run, weight := 0, 0, 1
	for g := 0; ; g++ {
		if g == nSel {
			return 0, false
		}
		t := &tables[sel[g]]
		if !t.whole {
			return 0, false
		}
		for range groupSize {
			s := t.decodeSym(br)
			if s <= runB {
				if weight > maxBlock {
					return 0, false
				}
				maxWeight = max(maxWeight, weight)
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
					last[i] = uint32(b) << 24
				}
				n += run
				run, weight = 0, 1
			}
			if s == eob {
				// Selectors past the last group are read and unused, as
				// compress/bzip2 reads them (lbzip2 writes some).
				if br.overrun() || origPtr >= n {
					return 0, false
				}
				if d.st.head {
					d.st.need = max(d.st.need, n, maxWeight, (nSel-1)*groupSize)
				}
				return want, d.unsort(n, &counts, origPtr, want)
			}
			if n == maxBlock {
				return 0, false
			}
			p := int(s - 1)
			b := mtf[p]
			copy(mtf[1:p+1], mtf[:p])
			mtf[0] = b
			counts[b]++
			last[n] = uint32(b) << 24
			n++
		}
		if br.overrun() {
			return 0, false
		}
	}
}

// unsort undoes the BWT of the last column, in the top bytes of the first
// n entries of d.next, and the first run-length stage, into d.out (flushing
// it when full), and reports whether the block's CRC is want.
//
// The row after row x is the one whose last byte is the same occurrence of
// the same value as x's first byte, so the block is the first bytes of the
// rows from origPtr on. index sets the row after each row in the low bits
// of its entry; the walk then writes the block's bytes over the last
// column, in the top bytes, which it no longer needs.
func (d *segDecoder) unsort(n int, counts *[256]int, origPtr int, want uint32) bool {
	var col column
	d.index(n, counts, &col)
	pieces := d.walk(n, &col, uint32(origPtr))
	if pieces == nil {
		next := d.next[:n]
		row := uint32(origPtr)
		for i, v := range next {
			b := col.first(row)
			row = next[row] & rowMask
			next[i] = v&^byteBits | uint32(b)<<24
		}
		pieces = append(d.pieces[:0], next)
	}
	d.pieces = pieces
	r := runs{out: d.out, mark: len(d.out), prev: -1}
	for _, p := range pieces {
		if !d.expand(&r, p) {
			return false
		}
	}
	r.crc = updateCRC(r.crc, r.out[r.mark:])
	d.out = r.out
	if r.same == 4 {
		return false // a run without its count
	}
	return r.crc == want
}

// index sets, for the last column of n rows in the top bytes of d.next
// whose bytes counts counts, the row after each row and the first column.
func (d *segDecoder) index(n int, counts *[256]int, col *column) {
	sum := 0
	for b, c := range counts {
		col.start[b] = int32(sum)
		sum += c
	}
	col.start[256] = int32(sum)
	at := col.start
	next := d.next[:n]
	for i, v := range next {
		b := v >> 24
		next[at[b]] |= uint32(i)
		at[b]++
	}
	b := 0
	for k := range (n + 1<<colShift - 1) >> colShift {
		for int(col.start[b+1]) <= k<<colShift {
			b++
		}
		col.at[k] = uint8(b)
	}
}

const (
	rowMask     = 1<<20 - 1 // in d.next: the row after (900000 < 1<<20)
	startMark   = 1 << 23   // in d.next: a stretch of the walk starts at this row
	byteBits    = 0xff << 24
	colShift    = 8       // rows per entry of column.at: 1<<colShift
	stretches   = 64      // stretches a long block's walk is cut into
	walkers     = 12      // stretches walked at once
	chunkSize   = 1 << 8  // the unit in which stretches take room in d.next
	minParallel = 1 << 16 // blocks shorter than this are walked in one go
	// A block and the partly filled last chunks of its stretches.
	nextSize = 900000 + stretches*chunkSize
)

// A column is a block's first BWT column: sorted, so each byte value's
// rows are one range.
type column struct {
	start [257]int32                  // the first row of each byte value, then n
	at    [900000>>colShift + 1]uint8 // the first byte of row k<<colShift
}

// first returns row x's first byte.
func (c *column) first(x uint32) byte {
	b := int(c.at[x>>colShift])
	for uint32(c.start[b+1]) <= x {
		b++
	}
	return byte(b)
}

// A walker walks one stretch: the rows from its start up to the next start.
type walker struct {
	row   uint32 // the row to visit next
	id    int    // which stretch
	chunk int    // the chunk of d.next being filled
	pos   int    // where in d.next its next byte goes
	end   int    // the end of the chunk
}

// walk follows the n rows of d.next from origPtr in stretches, several at
// a time, so that the processor waits for several memory loads at once
// instead of one after the other, and returns the block's bytes, in pieces
// of d.next (in the top bytes), in order. Stretch 0 starts at origPtr, the
// others at rows spread over the block, marked in d.next; each ends where
// the next one starts. The pieces are the block's bytes only if the
// stretches, in the order in which they meet, cover all n rows: the rows
// then form one cycle, as they do in every block an encoder writes.
// Otherwise (or for a short block) walk returns nil with the rows as they
// were, and unsort walks them from origPtr one by one, as compress/bzip2
// does, whatever their cycles. Every row is visited at most once here, as
// a walker stops at any start.
func (d *segDecoder) walk(n int, col *column, origPtr uint32) [][]uint32 {
	if n < minParallel {
		return nil
	}
	next := d.next
	var starts [stretches]uint32
	starts[0] = origPtr
	next[origPtr] |= startMark
	for j := 1; j < stretches; j++ {
		s := uint32(j * n / stretches)
		for next[s]&startMark != 0 {
			if s++; int(s) == n {
				s = 0
			}
		}
		starts[j] = s
		next[s] |= startMark
	}
	defer func() {
		for _, s := range starts {
			next[s] &^= startMark
		}
	}()

	var link [nextSize / chunkSize]int32 // per chunk: its stretch's next chunk
	var follow [stretches]int            // per stretch: the one after it
	var fill [stretches]int              // per stretch: the end of its last chunk
	var ws [walkers]walker
	begin := func(id int) walker {
		s := starts[id]
		lo := id * chunkSize
		next[lo] = next[lo]&^byteBits | uint32(col.first(s))<<24
		return walker{row: next[s] & rowMask, id: id, chunk: id, pos: lo + 1, end: lo + chunkSize}
	}
	for j := range ws {
		ws[j] = begin(j)
	}
	chunks, used, pending := len(next)/chunkSize, stretches, walkers
	for act := walkers; act > 0; {
		for i := 0; i < act; {
			w := &ws[i]
			v := next[w.row]
			if v&startMark != 0 {
				k := 0
				for starts[k] != w.row {
					k++
				}
				follow[w.id], fill[w.id] = k, w.pos
				if pending < stretches {
					*w = begin(pending)
					pending++
				} else {
					act--
					ws[i] = ws[act]
				}
				continue
			}
			if w.pos == w.end {
				if used == chunks { // cannot happen: at most n rows are visited
					return nil
				}
				link[w.chunk] = int32(used)
				w.chunk, w.pos, w.end = used, used*chunkSize, (used+1)*chunkSize
				used++
			}
			next[w.pos] = next[w.pos]&^byteBits | uint32(col.first(w.row))<<24
			w.pos++
			w.row = v & rowMask
			i++
		}
	}

	// Order the pieces, checking that the stretches cover every row.
	pieces := d.pieces[:0]
	total, c := 0, 0
	for range stretches {
		for k := c; ; k = int(link[k]) {
			lo, hi := k*chunkSize, (k+1)*chunkSize
			if fill[c] > lo && fill[c] <= hi {
				pieces = append(pieces, next[lo:fill[c]])
				total += fill[c] - lo
				break
			}
			pieces = append(pieces, next[lo:hi])
			total += chunkSize
		}
		if c = follow[c]; c == 0 {
			break
		}
	}
	d.pieces = pieces
	if c != 0 || total != n {
		return nil
	}
	return pieces
}

// runs is the state of undoing the first run-length stage of a block.
type runs struct {
	out  []byte
	mark int    // out[mark:] is the block's output not yet in crc
	crc  uint32 // the block's CRC so far
	prev int    // the last byte, or -1
	same int    // how many times in a row it came
}

// expand undoes the first run-length stage on the bytes of a block in the
// top bytes of piece, the next after those r has seen, into r.out,
// flushing it when full.
func (d *segDecoder) expand(r *runs, piece []uint32) bool {
	out, mark, crc, prev, same := r.out, r.mark, r.crc, r.prev, r.same
	var ok bool
	for _, v := range piece {
		b := byte(v >> 24)
		if same == 4 {
			// The byte after four equal ones counts more of them.
			for k := int(b); k > 0; {
				if len(out) == cap(out) {
					if out, crc, ok = d.full(out, mark, crc); !ok {
						return false
					}
					mark = 0
				}
				m := min(k, cap(out)-len(out))
				i := len(out)
				out = out[:i+m]
				for ; i < len(out); i++ {
					out[i] = byte(prev)
				}
				k -= m
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
		if len(out) == cap(out) {
			if out, crc, ok = d.full(out, mark, crc); !ok {
				return false
			}
			mark = 0
		}
		out = append(out, b)
	}
	r.out, r.mark, r.crc, r.prev, r.same = out, mark, crc, prev, same
	return true
}

// full flushes a full output buffer out, whose bytes from mark on are the
// block's, and returns the empty buffer to go on with and the block's CRC
// so far, or false to stop.
func (d *segDecoder) full(out []byte, mark int, crc uint32) ([]byte, uint32, bool) {
	crc = updateCRC(crc, out[mark:])
	d.out = out
	if d.flush == nil || !d.flush(d) {
		return nil, 0, false
	}
	return d.out[:0], crc, cap(d.out) > 0
}

// bitReader reads bits most-significant first from a byte slice, reading
// zeros past its end and remembering that it did.
type bitReader struct {
	src []byte
	end int    // bits of src to read
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

// overrun reports whether more than end bits were read.
func (br *bitReader) overrun() bool { return br.consumed() > br.end }

// align skips to the next byte boundary and reports whether the bits
// skipped were zeros, as encoders write them.
func (br *bitReader) align() bool {
	if k := uint(br.consumed() % 8); k != 0 {
		return br.read(8-k) == 0
	}
	return true
}
