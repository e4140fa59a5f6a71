package reader

import (
	"errors"
	"io"
)

// The payload flows through three goroutines, each stage handing the next
// chunks of at most chunkSize bytes over a queue of chunkDepth chunks:
//
//	fetch (source, resumption, limit, compressed hash)
//	  → decode (bzip2 or zstd, limit)
//	  → Apply's goroutine (hash, write, progress)
//
// So a slow network, the decoder and the disk overlap, and memory stays
// bounded: a few chunks per queue, whatever the payload's size.
const (
	chunkSize  = 64 << 10
	chunkDepth = 4
)

// errStopped is what a stage sees when download has returned early.
var errStopped = errors.New("download stopped")

// queue carries chunks from one stage to the next.
type queue struct {
	ch   chan []byte
	free chan []byte   // chunks to reuse
	done chan struct{} // closed when download returns
	err  error         // the producer's error; set before ch is closed
}

func newQueue(done chan struct{}) *queue {
	return &queue{ch: make(chan []byte, chunkDepth), free: make(chan []byte, chunkDepth+2), done: done}
}

// buf returns a chunk buffer, reused when one is free.
func (q *queue) buf() []byte {
	select {
	case b := <-q.free:
		return b
	default:
		return make([]byte, chunkSize)
	}
}

// recycle returns a chunk for reuse; a chunk not returned is garbage.
func (q *queue) recycle(b []byte) {
	select {
	case q.free <- b[:cap(b)]:
	default:
	}
}

// send hands b to the consumer; false means download has returned.
func (q *queue) send(b []byte) bool {
	select {
	case q.ch <- b:
		return true
	case <-q.done:
		return false
	}
}

// drain receives and drops chunks until the producer is finished.
func (q *queue) drain() {
	for {
		select {
		case b, ok := <-q.ch:
			if !ok {
				return
			}
			q.recycle(b)
		case <-q.done:
			return
		}
	}
}

// produce reads r into chunks and sends them until r fails or ends, and
// keeps r's error other than io.EOF in q.err.
func (q *queue) produce(r io.Reader) {
	defer close(q.ch)
	for {
		b := q.buf()
		n, err := fill(r, b)
		if n > 0 && !q.send(b[:n]) {
			return
		}
		if err != nil {
			if err != io.EOF {
				q.err = err
			}
			return
		}
	}
}

// fill reads into b until it is full or r fails or ends.
func fill(r io.Reader, b []byte) (n int, err error) {
	for n < len(b) && err == nil {
		var m int
		m, err = r.Read(b[n:])
		n += m
	}
	return n, err
}

// reader returns the queue's chunks as a stream, for the decoder. It ends
// with the producer's error, or io.EOF.
func (q *queue) reader() io.Reader { return &queueReader{q: q} }

type queueReader struct {
	q   *queue
	cur []byte // unread part of buf
	buf []byte
	err error
}

func (qr *queueReader) Read(p []byte) (int, error) {
	for len(qr.cur) == 0 {
		if qr.buf != nil {
			qr.q.recycle(qr.buf)
			qr.buf = nil
		}
		if qr.err != nil {
			return 0, qr.err
		}
		select {
		case b, ok := <-qr.q.ch:
			if !ok {
				qr.err = io.EOF
				if qr.q.err != nil {
					qr.err = qr.q.err
				}
				continue
			}
			qr.cur, qr.buf = b, b
		case <-qr.q.done:
			qr.err = errStopped
		}
	}
	n := copy(p, qr.cur)
	qr.cur = qr.cur[n:]
	return n, nil
}
