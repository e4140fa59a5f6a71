package pbzip2

import (
	"bytes"
	"encoding/binary"
	"io"
	"sync/atomic"
)

const (
	// maxSegment bounds the compressed bytes of one segment. A bzip2 stream
	// of one 900 kB block is at most ~905 kB, so every stream written by
	// pbzip2-style compressors fits; a longer stream is cut at this size
	// and decoded sequentially.
	maxSegment = 1 << 20
	// maxOutput bounds what a worker decodes from one segment. Writer keeps
	// each stream's input at or below it.
	maxOutput = 1 << 20
	// readSize is the most read from the input at once.
	readSize = 64 << 10
	// carry is how many bytes a forced cut leaves for the next segment; it
	// exceeds the header length, so a forced cut never splits a header.
	carry = 16
	// maxEmptyReads is how many reads in a row may return neither data
	// nor an error before the input fails with io.ErrNoProgress, as
	// bufio does.
	maxEmptyReads = 100
	// minSegment is the shortest segment cut at a header: shorter streams
	// share a segment. Each cut copies up to readSize bytes, so this keeps
	// the copying linear however densely crafted input holds headers.
	minSegment = 32 << 10
)

// headerLen is the length of the pattern that marks a candidate stream
// start: "BZh", a level '1'..'9', and the 48-bit block magic.
const headerLen = 10

var blockMagicBytes = []byte{0x31, 0x41, 0x59, 0x26, 0x53, 0x59}

// findHeader returns the first p >= from such that b[p:] starts with a
// candidate stream header, or -1.
func findHeader(b []byte, from int) int {
	for from+headerLen <= len(b) {
		i := bytes.Index(b[from+4:], blockMagicBytes)
		if i < 0 {
			return -1
		}
		p := from + i
		if b[p] == 'B' && b[p+1] == 'Z' && b[p+2] == 'h' && b[p+3] >= '1' && b[p+3] <= '9' {
			return p
		}
		from = p + 1
	}
	return -1
}

// blockPairs holds every 16-bit value that two consecutive bytes take
// inside the block magic, at each of the 8 bit offsets it may start at: a
// filter that findBlock checks once every 4 bytes.
var blockPairs [1 << 16 / 64]uint64

func init() {
	for s := range 8 {
		// The magic starting at bit s of byte 0: bytes 0..6 (0..5 if s is
		// 0); those wholly inside it are 1..5 (0..5).
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], blockMagic<<(16-s))
		lo := 1
		if s == 0 {
			lo = 0
		}
		for i := lo; i < 5; i++ {
			p := uint16(b[i])<<8 | uint16(b[i+1])
			blockPairs[p/64] |= 1 << (p % 64)
		}
	}
}

// blockAt reports whether the block magic starts at bit s of b[i], wholly
// inside b.
func blockAt(b []byte, i, s int) bool {
	if 8*i+s+48 > 8*len(b) {
		return false
	}
	var w [8]byte
	copy(w[:], b[i:])
	return binary.BigEndian.Uint64(w[:])>>(16-s)&(1<<48-1) == blockMagic
}

// findBlock returns the first bit offset q >= from in b at which the 48-bit
// block magic starts, wholly inside b, or -1. The magic may start at any
// bit: inside a stream, blocks are not byte-aligned. Whatever the offset,
// two consecutive bytes wholly inside the magic start at a multiple of 4,
// so a filter on those pairs finds every candidate.
func findBlock(b []byte, from int) int {
	i0 := from / 8
	for j := (i0 + 3) &^ 3; j+1 < len(b); j += 4 {
		p := uint16(b[j])<<8 | uint16(b[j+1])
		if blockPairs[p/64]&(1<<(p%64)) == 0 {
			continue
		}
		for i := max(j-4, i0); i <= j; i++ {
			for s := range 8 {
				if q := 8*i + s; q >= from && blockAt(b, i, s) {
					return q
				}
			}
		}
	}
	return -1
}

// A segment is a run of compressed input between two cuts. A cut is at a
// candidate stream start (a byte offset), at a candidate block start
// inside a stream (any bit offset), or forced. The byte holding a cut at a
// bit offset belongs to both segments.
type segment struct {
	buf      []byte // pooled; the segment's bytes
	off      int64  // offset of buf[0] in the input
	own      int    // bytes up to the next segment's buf[0]
	startBit int    // where in buf[0] the segment starts
	endBits  int    // where the segment ends, in bits from buf[0]
	mid      bool   // it starts inside a stream, at a block magic
	endMid   bool   // it ends inside a stream, at a block magic

	// Set when the segment is decoded speculatively. The emitter sets in,
	// then closes head (with abort set if the output is not wanted); the
	// worker may hand output to Read itself from then on. The rest is valid
	// after done.
	done      chan struct{}
	head      chan struct{}
	in        chain
	abort     bool
	out       []byte // pooled; decoded bytes not yet sent (the buffer for them until done)
	outPool   *pool
	ok        bool     // the segment is what run says; out is the rest of its output
	validated bool     // the worker checked st against in (st.fits)
	st        segState // where the decode stopped
	res       point    // if not ok: where the sequential decode takes over
	sent      int      // output bytes the worker handed to Read itself
}

// A pool hands out at most max buffers of one size, allocating lazily.
type pool struct {
	free chan []byte
	size int
	n    atomic.Int32 // allocated so far
}

func newPool(size, max int) *pool {
	return &pool{free: make(chan []byte, max), size: size}
}

// get returns a buffer, waiting for one to be put back if max are in use.
// It returns nil if done is closed first.
func (p *pool) get(done <-chan struct{}) []byte {
	select {
	case b := <-p.free:
		return b
	default:
	}
	if p.n.Add(1) <= int32(cap(p.free)) {
		return make([]byte, p.size)
	}
	p.n.Add(-1)
	select {
	case b := <-p.free:
		return b
	case <-done:
		return nil
	}
}

func (p *pool) put(b []byte) {
	select {
	case p.free <- b[:cap(b)]:
	default:
	}
}

// scan reads the input, cuts it into segments at candidate stream and
// block starts (and at maxSegment when there are none), hands decodable
// segments to the workers and every segment, in order, to the emitter.
func (z *Reader) scan(r io.Reader) {
	defer close(z.queue)
	defer close(z.work)
	buf := z.segs.get(z.done)
	if buf == nil {
		return
	}
	n, from, fromBit := 0, z.minSeg, 8*z.minSeg
	startOK, startBit, mid := true, 0, false
	var base int64 // input offset of buf[0]
	// dispatch hands on the segment of buf up to bit cut.
	dispatch := func(cut int, endOK, endMid bool) bool {
		own := cut / 8
		end := own
		if cut%8 != 0 {
			end++
		}
		s := &segment{buf: buf[:end], off: base, own: own, startBit: startBit,
			endBits: cut, mid: mid, endMid: endMid}
		// Only a segment from a cut at a candidate (or the input's start) to
		// one (or the input's end) can be decoded on its own.
		if startOK && endOK {
			// The output buffer is taken here, in input order, so that the
			// segment the emitter waits for never waits for one.
			if s.out = z.outs.get(z.done); s.out == nil {
				return false
			}
			s.out, s.outPool = s.out[:0], z.outs
			s.done, s.head = make(chan struct{}), make(chan struct{})
			select {
			case z.work <- s:
			case <-z.done:
				return false
			}
		}
		select {
		case z.queue <- s:
			return true
		case <-z.done:
			return false
		}
	}
	empty := 0 // reads in a row that returned nothing
	for {
		select {
		case <-z.done: // closed: read no more
			return
		default:
		}
		m, err := r.Read(buf[n:min(n+readSize, len(buf))])
		n += m
		if m == 0 && err == nil {
			// As bufio, which compress/bzip2 reads through, gives up.
			if empty++; empty == maxEmptyReads {
				err = io.ErrNoProgress
			}
		} else {
			empty = 0
		}
		for {
			p := findHeader(buf[:n], from)
			q := -1
			if p < 0 || 8*p > fromBit {
				end := n
				if p >= 0 {
					end = min(n, p+7) // only a block start before p matters
				}
				q = findBlock(buf[:end], fromBit)
				if p >= 0 && q >= 8*p {
					q = -1
				}
			}
			if p < 0 && q < 0 && n < len(buf) {
				from = max(from, n-headerLen+1)
				fromBit = max(fromBit, 8*n-47)
				break
			}
			var cut int // in bits
			var next, nextMid bool
			switch {
			case q >= 0: // a block start, before any stream start
				cut, next, nextMid = q, true, true
			case p >= 0:
				cut, next = 8*p, true
			default: // full without a candidate: cut where none starts
				cut = 8 * (n - z.carry)
			}
			nb := z.segs.get(z.done)
			if nb == nil || !dispatch(cut, next, nextMid) {
				return
			}
			k := copy(nb, buf[cut/8:n])
			buf, n, from, fromBit = nb, k, z.minSeg, 8*z.minSeg
			startOK, startBit, mid = next, cut%8, nextMid
			base += int64(cut / 8)
		}
		if err != nil {
			if n > 0 && !dispatch(8*n, err == io.EOF, false) {
				return
			}
			z.scanned = base + int64(n)
			if err != io.EOF {
				z.scanErr = err
			}
			return
		}
	}
}
