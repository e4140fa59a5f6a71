package pbzip2

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// A Writer compresses to bzip2 in parallel. Create one with NewWriter.
type Writer struct {
	w       io.Writer
	ins     *pool     // chunk input buffers
	work    chan *job // to the workers
	order   chan *job // to the flusher, in input order
	flushed chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	err     error // first error from the flusher or a worker
	closed  bool
	written bool // a chunk has been handed on

	buf  []byte // chunk being filled
	cost int    // run-length encoded size of buf
	last int    // last byte of buf, -1 if none
	run  int    // length of the run of last at the end of buf
}

type job struct {
	in   []byte
	out  []byte
	err  error
	done chan struct{}
}

// NewWriter returns a Writer that compresses what is written to it and
// writes it to w as a sequence of complete bzip2 streams (block size 900k,
// as bzip2 -9), one per chunk of input of at most 1 MiB that fills one
// block. Every bzip2 decoder reads such concatenated streams; Reader
// decodes them in parallel.
//
// Chunks are compressed on the given number of workers; at most 2×workers
// chunks of input (1 MiB each) are in memory at once, plus about 15 MB of
// working memory per worker. Write blocks while that many are in flight.
// The output is complete only after Close returns nil. The Writer is not
// safe for concurrent use; Close does not close w.
func NewWriter(w io.Writer, opts ...Option) (*Writer, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	inFlight := 2 * c.workers
	z := &Writer{
		w:       w,
		ins:     newPool(maxOutput, inFlight),
		work:    make(chan *job, inFlight),
		order:   make(chan *job, inFlight),
		flushed: make(chan struct{}),
		last:    -1,
	}
	z.wg.Add(c.workers)
	for range c.workers {
		go z.worker()
	}
	go z.flush()
	return z, nil
}

func (z *Writer) worker() {
	defer z.wg.Done()
	var e encoder
	for j := range z.work {
		j.out, j.err = e.encodeStream(j.out[:0], j.in)
		close(j.done)
	}
}

// flush writes the compressed chunks in order.
func (z *Writer) flush() {
	defer close(z.flushed)
	for j := range z.order {
		<-j.done
		err := j.err
		if err == nil && z.error() == nil {
			if _, werr := z.w.Write(j.out); werr != nil {
				err = fmt.Errorf("pbzip2: %w", werr)
			}
		}
		if err != nil {
			z.mu.Lock()
			if z.err == nil {
				z.err = err
			}
			z.mu.Unlock()
		}
		z.ins.put(j.in)
	}
}

func (z *Writer) error() error {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.err
}

// Write compresses p. It returns an error if an earlier chunk could not be
// written to the underlying writer.
func (z *Writer) Write(p []byte) (int, error) {
	if z.closed {
		return 0, ErrClosed
	}
	if err := z.error(); err != nil {
		return 0, err
	}
	total := len(p)
	for len(p) > 0 {
		if z.buf == nil {
			z.buf = z.ins.get(nil)[:0]
		}
		n := z.fill(p)
		p = p[n:]
		if len(p) > 0 {
			z.dispatch()
		}
	}
	return total, nil
}

// fill appends the longest prefix of p that keeps the chunk within one
// block (counting runs as rle1 encodes them) and within maxOutput bytes.
func (z *Writer) fill(p []byte) int {
	buf, cost, last, run := z.buf, z.cost, z.last, z.run
	room := min(len(p), maxOutput-len(buf))
	i := 0
	for ; i < room; i++ {
		// Eight bytes at once while no byte equals the one before it.
		for last >= 0 && i+8 <= room && cost+8 <= blockMax {
			x := binary.LittleEndian.Uint64(p[i:])
			y := x ^ (x<<8 | uint64(last))
			if (y-0x0101010101010101)&^y&0x8080808080808080 != 0 {
				break // two equal neighbours: a run, counted byte by byte
			}
			cost, last, run, i = cost+8, int(x>>56), 1, i+8
		}
		if i == room {
			break
		}
		b := p[i]
		nr, add := 1, 1
		if int(b) == last && run < 255 {
			nr, add = run+1, 0
			switch {
			case run < 3:
				add = 1
			case run == 3:
				add = 2 // the fourth byte and the count byte
			}
		}
		if cost+add > blockMax {
			break
		}
		cost, last, run = cost+add, int(b), nr
	}
	z.buf, z.cost, z.last, z.run = append(buf, p[:i]...), cost, last, run
	return i
}

// dispatch hands the current chunk to the workers.
func (z *Writer) dispatch() {
	j := &job{in: z.buf, done: make(chan struct{})}
	z.work <- j
	z.order <- j
	z.buf, z.cost, z.last, z.run = nil, 0, -1, 0
	z.written = true
}

// Close compresses what is left, writes it, and waits for all output to be
// written to the underlying writer. It returns the first error met.
func (z *Writer) Close() error {
	if z.closed {
		return ErrClosed
	}
	z.closed = true
	if len(z.buf) > 0 || !z.written {
		if z.buf == nil {
			z.buf = z.ins.get(nil)[:0]
		}
		z.dispatch()
	}
	close(z.work)
	close(z.order)
	<-z.flushed
	z.wg.Wait()
	return z.error()
}
