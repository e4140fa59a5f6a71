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
	spill   *pool       // output of the rest of segments (see finish), outSize each
	streams *pool       // sequential-decode output, streamBufSize each
	rest    chan *rest  // the rest of a segment to decode (emitter → workers)
	seqMode atomic.Bool // set once the emitter decodes sequentially to the end
	outSize int         // most output taken from one segment
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
// is returned wrapped. Input made of several bzip2 streams (as written by
// Writer or pbzip2) is decoded on the given number of workers, each stream
// decoding to at most 1 MiB; other input (as written by bzip2 or lbzip2),
// and all input from the first stream that does not decode on its own, is
// decoded sequentially while a goroutine reads ahead.
//
// Memory is bounded whatever the input: at most workers+2 segments of
// compressed input (1 MiB each) and workers+2 buffers of decoded output
// (1 MiB each) are in memory, plus 3.6 MB of block state per worker; once
// short streams of very compressible data decode to more than a buffer,
// two more buffers; and once decoding is sequential, about 4 MB for
// compress/bzip2: at most about 10 MiB plus 5.5 MiB per worker, 21 MiB
// with 2 workers (15 MiB of it in the usual case). A stream
// that decodes to more than 1 MiB is decoded as the caller reads, so
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
		rest:    make(chan *rest),
		outSize: c.outSize,
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

// worker decodes segments speculatively: each on its own, as if it were the
// whole input, with a decoder it keeps (see segDecoder).
func (z *Reader) worker() {
	defer z.wg.Done()
	var d segDecoder
	work := z.work
	for {
		var s *segment
		var ok bool
		// The rest of a segment comes first: the emitter waits for it.
		select {
		case r := <-z.rest:
			r.decode(&d, z.outSize)
			continue
		default:
		}
		select {
		case r := <-z.rest:
			r.decode(&d, z.outSize)
			continue
		case s, ok = <-work:
			if !ok {
				work = nil // stay for the rest of segments until done
				continue
			}
		case <-z.done:
			return // the scanner may be blocked reading; do not wait for it
		}
		var n int
		if z.seqMode.Load() { // its output would not be used
			d = segDecoder{} // nor will the decoder's memory
		} else {
			s.out, n, ok = d.decode(s.out, s.buf, z.outSize)
		}
		// The input stays until the segment is emitted: should an earlier
		// segment fail, the sequential decode needs it.
		switch {
		case z.seqMode.Load():
			s.status = decodedMore
		case ok:
			s.status = decodedOK
		case n > 0:
			// Whole streams up to n, then one that does not fit (short,
			// very compressible streams share a segment) or that the
			// strict decoder does not take: the emitter goes on from n.
			s.status, s.split = decodedPart, n
		default:
			// Invalid data, a segment ending inside a stream, a single
			// stream decoding to more than fits, or anything else the
			// strict decoder does not take: decode sequentially from here
			// with compress/bzip2 to get its exact output and error.
			s.status = decodedMore
		}
		if s.status == decodedMore {
			z.outs.put(s.out)
			s.out = nil
		}
		close(s.done)
	}
}

// errLost reports a broken invariant of the Reader itself: the segments
// handed on do not cover the input read, so output would be missing.
var errLost = errors.New("pbzip2: internal error: segments do not cover the input")

// take accounts for a segment taken off the queue (by the emitter or the
// sequential decode): segments must follow each other with neither gap nor
// overlap, so that no input is left out of the output without an error.
func (z *Reader) take(s *segment) error {
	if s.off != z.taken {
		return fmt.Errorf("%w: segment at byte %d, want %d", errLost, s.off, z.taken)
	}
	z.taken += int64(len(s.buf))
	return nil
}

// endErr returns the scanner's error once the queue is closed, or errLost
// if the segments taken off it do not add up to the input read.
func (z *Reader) endErr() error {
	if z.scanErr == nil && z.taken != z.scanned {
		return fmt.Errorf("%w: %d bytes in segments, %d read", errLost, z.taken, z.scanned)
	}
	return z.scanErr
}

// release returns a segment's memory once no worker uses it.
func (z *Reader) release(s *segment) bool {
	if s.done != nil {
		select {
		case <-s.done:
		case <-z.done:
			return false
		}
		if s.out != nil {
			z.outs.put(s.out)
			s.out = nil
		}
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

// emit puts the output in order: a decoded segment's output as it is, and
// from the first other segment on, a sequential decode of the rest of the
// input.
func (z *Reader) emit() {
	defer z.wg.Done()
	defer z.stop.Do(func() { close(z.done) })
	for seen := false; ; seen = true {
		var s *segment
		var ok bool
		select {
		case s, ok = <-z.queue:
		case <-z.done:
			return
		}
		if !ok && !seen {
			z.sequential(nil, 0) // no input: fail as compress/bzip2 does
			return
		}
		if !ok {
			err := z.endErr()
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
		if s.done != nil {
			select {
			case <-s.done:
			case <-z.done:
				return
			}
			if s.status == decodedOK || s.status == decodedPart {
				if len(s.out) > 0 {
					if !z.send(piece{data: s.out, buf: s.out, pool: z.outs}) {
						return
					}
				} else if s.out != nil {
					z.outs.put(s.out)
				}
				s.out = nil // Read returns it to the pool
			}
			if s.status == decodedPart {
				off, ok := z.finish(s, s.split)
				if !ok {
					return
				}
				if off < len(s.buf) {
					z.sequential(s, off)
					return
				}
			}
			if s.status != decodedMore {
				if !z.release(s) {
					return
				}
				continue
			}
		}
		z.sequential(s, 0)
		return
	}
}

// A rest is the rest of a segment, from a stream boundary, for a worker to
// decode as far as its output fits in out.
type rest struct {
	src  []byte
	out  []byte // pooled (spill); the output once done
	n    int    // bytes of src decoded, once done
	done chan struct{}
}

func (r *rest) decode(d *segDecoder, limit int) {
	r.out, r.n, _ = d.decode(r.out, r.src, limit)
	close(r.done)
}

// finish has the streams of s from byte off on decoded by the workers, as
// many at a time as fit in one output buffer, and hands the output to Read.
// It returns where the streams stop decoding, len(s.buf) if they all do,
// and false if the Reader was closed. A segment gets here when a worker
// could decode only its first streams: the rest would not fit in its
// buffer (short streams of very compressible data share a segment), or one
// of them is not for the strict decoder, in which case the caller decodes
// sequentially from where this stops. So a very compressible stretch of
// input does not end parallel decoding, and costs no decoder beyond the
// workers' own.
func (z *Reader) finish(s *segment, off int) (int, bool) {
	for off < len(s.buf) {
		buf := z.spill.get(z.done)
		if buf == nil {
			return off, false
		}
		r := &rest{src: s.buf[off:], out: buf, done: make(chan struct{})}
		select {
		case z.rest <- r:
		case <-z.done:
			return off, false
		}
		select {
		case <-r.done:
		case <-z.done:
			return off, false
		}
		if r.n == 0 {
			z.spill.put(buf)
			return off, true
		}
		if len(r.out) == 0 {
			z.spill.put(buf)
		} else if !z.send(piece{data: r.out, buf: buf, pool: z.spill}) {
			return off, false
		}
		off += r.n
	}
	return off, true
}
