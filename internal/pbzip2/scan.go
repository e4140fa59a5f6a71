package pbzip2

import (
	"bytes"
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

// A segment is a run of compressed input between two cuts.
type segment struct {
	buf []byte // pooled; the segment's bytes
	off int64  // offset of buf[0] in the input

	// Set when the segment is decoded speculatively; valid after done.
	done   chan struct{}
	out    []byte // pooled; decoded bytes (the buffer for them until done)
	status int
	split  int // decodedPart: the length of the streams decoded into out
}

const (
	decodedOK   = iota // the segment is whole streams; out is all of it
	decodedPart        // out is the output of buf[:split], whole streams
	decodedMore        // anything else: decode sequentially from here
)

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

// scan reads the input, cuts it into segments at candidate headers (and at
// maxSegment when there are none), hands decodable segments to the workers
// and every segment, in order, to the emitter.
func (z *Reader) scan(r io.Reader) {
	defer close(z.queue)
	defer close(z.work)
	buf := z.segs.get(z.done)
	if buf == nil {
		return
	}
	n, from, startOK := 0, z.minSeg, true
	var base int64 // input offset of buf[0]
	dispatch := func(end int, endOK bool) bool {
		s := &segment{buf: buf[:end], off: base}
		// Only a segment from a stream start (or the input's) to a stream
		// start (or the input's end) can be whole streams.
		if startOK && endOK {
			// The output buffer is taken here, in input order, so that the
			// segment the emitter waits for never waits for one.
			if s.out = z.outs.get(z.done); s.out == nil {
				return false
			}
			s.done = make(chan struct{})
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
			if p < 0 && n < len(buf) {
				from = max(from, n-headerLen+1)
				break
			}
			cut, next := p, true
			if p < 0 { // full without a header: cut where no header starts
				cut, next = n-z.carry, false
			}
			nb := z.segs.get(z.done)
			if nb == nil || !dispatch(cut, next) {
				return
			}
			k := copy(nb, buf[cut:n])
			buf, n, from, startOK = nb, k, z.minSeg, next
			base += int64(cut)
		}
		if err != nil {
			if n > 0 && !dispatch(n, err == io.EOF) {
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
