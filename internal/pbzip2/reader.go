package pbzip2

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// streamBufSize is the size of the pieces a sequential decode hands to Read.
const streamBufSize = 64 << 10

// A Reader decompresses bzip2 data, decoding independent streams in
// parallel. Create one with NewReader.
type Reader struct {
	queue   chan *segment // every segment, in input order (scanner → emitter)
	work    chan *segment // decodable segments (scanner → workers)
	out     chan piece    // decoded output, in order (emitter → Read)
	done    chan struct{} // closed by Close or when the emitter has finished
	stop    sync.Once
	wg      sync.WaitGroup // workers and emitter
	scanErr error          // read error from the input; valid after queue is closed
	scanned int64          // bytes read from the input; valid after queue is closed
	taken   int64          // input bytes in the segments taken off queue so far

	segs    *pool       // compressed segments
	outs    *pool       // worker output, outSize bytes each
	spill   *pool       // output of the segment Read waits for, past its first buffer
	streams *pool       // sequential-decode output, streamBufSize each
	seqMode atomic.Bool // set once the emitter decodes sequentially to the end
	carry   int         // bytes a forced cut leaves for the next segment
	minSeg  int         // bytes before the first place a segment may be cut

	cur     []byte // output being handed out by Read
	curBuf  []byte // cur's pooled buffer
	curPool *pool
	err     error // sticky; returned once cur is drained
}

// A piece is output for Read: data from a pooled buffer, or a final error
// (io.EOF at the end).
type piece struct {
	data []byte
	buf  []byte
	pool *pool
	err  error
}

// NewReader returns a Reader that decompresses the bzip2 data read from r.
//
// Output and errors are those of compress/bzip2 for every input: the same
// bytes for any input it accepts, an error for any input it rejects. Before
// the error come the bytes compress/bzip2 returns when read 64 KiB at a
// time (with truncated input it returns, along with the error, bytes
// decoded from past the end, as many as the read asks for, up to a block).
// Nothing read before an error is verified. Invalid or truncated data is
// reported as a *CorruptError (errors.Is(err, ErrCorrupt)); an error from r
// is returned wrapped. Any bzip2 input, of one stream or many (as written
// by Writer, pbzip2, bzip2 or lbzip2), is decoded on the given number of
// workers, in pieces of about a block; from the first piece that does not
// decode on its own and fit with the one before, the rest is decoded
// sequentially while a goroutine reads ahead.
//
// Memory is bounded whatever the input: at most workers+2 segments of
// compressed input (1 MiB each) and workers+4 buffers of decoded output
// (1 MiB each) are in memory, plus 3.7 MB of block state per worker, and
// once decoding is sequential, about 4 MB for compress/bzip2: at most about
// 10 MiB plus 5.6 MiB per worker, 21 MiB with 2 workers. A piece that
// decodes to more than a buffer is decoded as the caller reads, so
// decompression bombs are held back by the caller's own limit on how much
// it reads.
//
// The Reader is not safe for concurrent use. Close it to stop its
// goroutines; Close does not close r.
func NewReader(r io.Reader, opts ...Option) (*Reader, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	window := 2*c.workers + 1
	z := &Reader{
		queue:   make(chan *segment, window),
		work:    make(chan *segment, window),
		out:     make(chan piece),
		done:    make(chan struct{}),
		segs:    newPool(c.segSize, c.workers+2),
		outs:    newPool(c.outSize, c.workers+2),
		spill:   newPool(c.outSize, 2),
		streams: newPool(streamBufSize, 3),
		carry:   min(carry, c.segSize/2),
		minSeg:  max(1, min(minSegment, c.segSize/4)),
	}
	go z.scan(r)
	z.wg.Add(c.workers + 1)
	for range c.workers {
		go z.worker()
	}
	go z.emit()
	return z, nil
}

// Read reads decompressed data. See NewReader for what it returns.
func (z *Reader) Read(p []byte) (int, error) {
	for len(z.cur) == 0 {
		if z.curBuf != nil {
			z.curPool.put(z.curBuf)
			z.curBuf = nil
		}
		if z.err != nil {
			return 0, z.err
		}
		pc := <-z.out
		z.cur, z.curBuf, z.curPool = pc.data, pc.buf, pc.pool
		if pc.err != nil {
			z.err = publicError(pc.err)
		}
	}
	n := copy(p, z.cur)
	z.cur = z.cur[n:]
	return n, nil
}

// Close stops the Reader's goroutines and releases its memory. A goroutine
// blocked in a Read of the underlying reader exits when that Read returns.
func (z *Reader) Close() error {
	z.stop.Do(func() { close(z.done) })
	z.wg.Wait()
	z.cur, z.curBuf, z.err = nil, nil, ErrClosed
	return nil
}

// worker decodes segments speculatively: each on its own, from the cut it
// starts at, with a decoder it keeps (see segDecoder). Output that does not
// fit in the segment's buffer waits until Read waits for the segment; the
// worker then hands it to Read itself, as it decodes, so that a segment
// (even a decompression bomb) decodes only as fast as the caller reads.
func (z *Reader) worker() {
	defer z.wg.Done()
	var d segDecoder
	var s *segment
	d.flush = func(d *segDecoder) bool {
		select {
		case <-s.head:
		case <-z.done:
			return false
		}
		if s.abort {
			return false
		}
		if !s.validated {
			// Nothing reaches Read before the segment is known to start
			// where the previous one ends.
			if !d.st.fits(s.mid, s.in) {
				return false
			}
			d.st.know(s.in)
			s.validated = true
		}
		if !z.send(piece{data: d.out, buf: d.out, pool: s.outPool}) {
			return false
		}
		d.sent += len(d.out)
		buf := z.spill.get(z.done)
		if buf == nil {
			return false
		}
		d.out, s.outPool = buf[:0], z.spill
		return true
	}
	for {
		var ok bool
		select {
		case s, ok = <-z.work:
			if !ok {
				return
			}
		case <-z.done:
			return // the scanner may be blocked reading; do not wait for it
		}
		if z.seqMode.Load() { // its output would not be used
			d = segDecoder{flush: d.flush} // nor will the decoder's memory
			s.ok = false
		} else {
			d.out, d.sent = s.out, 0
			s.ok = d.run(s.buf, s.startBit, s.endBits, s.mid, s.endMid)
			s.out, s.st, s.res, s.sent = d.out, d.st, d.res, d.sent
			d.out = nil
		}
		// The input stays until the segment is emitted: should it not
		// chain, the sequential decode needs it.
		close(s.done)
	}
}

// errLost reports a broken invariant of the Reader itself, such as segments
// handed on that do not cover the input read, so that output would be
// missing.
var errLost = errors.New("pbzip2: internal error")

// take accounts for a segment taken off the queue (by the emitter or the
// sequential decode): segments must follow each other with neither gap nor
// overlap, so that no input is left out of the output without an error.
func (z *Reader) take(s *segment) error {
	if s.off != z.taken {
		return fmt.Errorf("%w: segments do not cover the input: segment at byte %d, want %d", errLost, s.off, z.taken)
	}
	z.taken += int64(s.own)
	return nil
}

// endErr returns the scanner's error once the queue is closed, or errLost
// if the segments taken off it do not add up to the input read.
func (z *Reader) endErr() error {
	if z.scanErr == nil && z.taken != z.scanned {
		return fmt.Errorf("%w: segments do not cover the input: %d bytes in segments, %d read", errLost, z.taken, z.scanned)
	}
	return z.scanErr
}

// release returns a segment's memory once no worker uses it.
func (z *Reader) release(s *segment) bool {
	if s.done != nil {
		select {
		case <-s.head:
		default: // its output is not wanted: stop the worker
			s.abort = true
			close(s.head)
		}
		select {
		case <-s.done:
		case <-z.done:
			return false
		}
		z.sendOut(s, 0)
	}
	if s.buf != nil {
		z.segs.put(s.buf)
		s.buf = nil
	}
	return true
}

// send hands a piece to Read.
func (z *Reader) send(pc piece) bool {
	select {
	case z.out <- pc:
		return true
	case <-z.done:
		return false
	}
}

// sendOut hands the first n bytes of a segment's unsent output to Read and
// frees its buffer.
func (z *Reader) sendOut(s *segment, n int) bool {
	out, p := s.out, s.outPool
	s.out = nil
	if out == nil {
		return true
	}
	if n > 0 {
		return z.send(piece{data: out[:n], buf: out, pool: p})
	}
	p.put(out)
	return true
}

// emit puts the output in order: each segment's, as long as the segments
// chain (each starts in the stream state the one before ends in: inside a
// stream or not, and there with the level and combined CRC that the blocks
// before give), and from the first other segment on, a sequential decode
// of the rest of the input from the last place the output is known to be
// compress/bzip2's.
func (z *Reader) emit() {
	defer z.wg.Done()
	defer z.stop.Do(func() { close(z.done) })
	var in chain // the stream state where the next segment starts
	for seen := false; ; seen = true {
		var s *segment
		var ok bool
		select {
		case s, ok = <-z.queue:
		case <-z.done:
			return
		}
		if !ok && !seen {
			z.sequential(nil, point{}, chain{}, 0) // no input: fail as compress/bzip2 does
			return
		}
		if !ok {
			err := z.endErr()
			if err == nil && in.open {
				err = errLost // the last segment cannot end inside a stream
			}
			if err == nil {
				err = io.EOF
			}
			z.send(piece{err: err})
			return
		}
		if err := z.take(s); err != nil {
			z.send(piece{err: err})
			return
		}
		start := point{bit: s.startBit, open: in.open, head: true}
		if s.done == nil {
			z.sequential(s, start, in, 0)
			return
		}
		s.in = in
		close(s.head) // the worker may now hand output to Read
		select {
		case <-s.done:
		case <-z.done:
			return
		}
		if !s.validated && !s.st.fits(s.mid, in) {
			// It does not start where the last segment ends: a candidate
			// start inside compressed data, or invalid data.
			z.sendOut(s, 0)
			z.sequential(s, start, in, 0)
			return
		}
		if s.ok {
			if !z.sendOut(s, len(s.out)) {
				return
			}
			in = s.st.end(in)
			if !z.release(s) {
				return
			}
			continue
		}
		// Output is the worker's up to res, compress/bzip2's from there on.
		res, skip := s.res, 0
		if res.out >= s.sent {
			if !z.sendOut(s, res.out-s.sent) {
				return
			}
		} else {
			z.sendOut(s, 0)
			skip = s.sent - res.out
		}
		if res.head {
			res = start
		}
		z.sequential(s, res, in, skip)
		return
	}
}
