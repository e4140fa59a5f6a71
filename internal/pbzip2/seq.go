package pbzip2

import (
	"bytes"
	"compress/bzip2"
	"io"
)

// queueSource feeds a sequential decode with segments taken from the queue
// in order, starting with first.
type queueSource struct {
	z     *Reader
	first *segment // delivered first, if not nil
	skip  int      // bytes of first already decoded, not delivered
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
	s, skip := q.first, q.skip
	q.first, q.skip = nil, 0
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
	q.seg, q.rest = s, s.buf[skip:]
	return nil
}

// emptyStream is a whole bzip2 stream with no blocks: header, end-of-stream
// magic, combined CRC 0. It decodes to nothing and ends on a byte boundary.
var emptyStream = []byte{'B', 'Z', 'h', '9', 0x17, 0x72, 0x45, 0x38, 0x50, 0x90, 0, 0, 0, 0}

// sequential decodes the rest of the input, from byte skip of segment first
// (nil if the input is empty), with compress/bzip2, exactly as it would
// continue from there, and sends the output and the final piece (io.EOF or
// the error). Once it runs, the workers stop decoding: their output would
// not be used.
//
// Every byte before the start has been output as whole, valid streams. A
// segment starts with a stream header, so a decode started there reads it
// as compress/bzip2 would read the next stream of the input; but a start
// inside a segment (skip > 0) may hold anything, which compress/bzip2 reads
// differently at the start of its input and after a stream ("bad magic
// value" against "bad magic value in continuation file"). There the decode
// is started after an empty stream, so that the bytes from skip on are read
// as what follows a stream, as they are.
func (z *Reader) sequential(first *segment, skip int) {
	z.seqMode.Store(true)
	src := &queueSource{z: z, first: first, skip: skip}
	defer func() {
		if src.seg != nil {
			z.release(src.seg)
		}
	}()
	var in io.Reader = src
	if skip > 0 {
		in = io.MultiReader(bytes.NewReader(emptyStream), src)
	}
	d := bzip2.NewReader(in)
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
