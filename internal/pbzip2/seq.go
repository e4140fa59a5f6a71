package pbzip2

import (
	"compress/bzip2"
	"io"
)

// queueSource feeds a sequential decode with segments taken from the queue
// in order, starting with first.
type queueSource struct {
	z     *Reader
	first *segment // delivered first, if not nil
	seg   *segment // being delivered; released when the decoder needs more
	rest  []byte   // seg's bytes not yet delivered
	err   error
}

// Read implements io.Reader for compress/bzip2.
func (q *queueSource) Read(p []byte) (int, error) {
	for len(q.rest) == 0 {
		if err := q.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, q.rest)
	q.rest = q.rest[n:]
	return n, nil
}

func (q *queueSource) next() error {
	if q.err != nil {
		return q.err
	}
	if q.seg != nil {
		if !q.z.release(q.seg) {
			q.err = ErrClosed
			return q.err
		}
		q.seg = nil
	}
	s := q.first
	q.first = nil
	if s == nil {
		var ok bool
		select {
		case s, ok = <-q.z.queue:
		case <-q.z.done:
			q.err = ErrClosed
			return q.err
		}
		if !ok {
			q.err = q.z.endErr()
			if q.err == nil {
				q.err = io.EOF
			}
			return q.err
		}
		if q.err = q.z.take(s); q.err != nil {
			return q.err
		}
	}
	q.seg, q.rest = s, s.buf
	return nil
}

// sequential decodes the rest of the input, from segment first (nil if the
// input is empty), with compress/bzip2, exactly as it would continue from
// there, and sends the output and the final piece (io.EOF or the error).
// Once it runs, the workers stop decoding: their output would not be used.
func (z *Reader) sequential(first *segment) {
	z.seqMode.Store(true)
	src := &queueSource{z: z, first: first}
	defer func() {
		if src.seg != nil {
			z.release(src.seg)
		}
	}()
	d := bzip2.NewReader(src)
	for {
		buf := z.streams.get(z.done)
		if buf == nil {
			return
		}
		n, err := d.Read(buf)
		if n > 0 {
			if !z.send(piece{data: buf[:n], buf: buf, pool: z.streams}) {
				return
			}
		} else {
			z.streams.put(buf)
		}
		if err != nil {
			z.send(piece{err: err})
			return
		}
	}
}
