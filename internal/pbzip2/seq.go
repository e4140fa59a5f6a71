package pbzip2

import (
	"bytes"
	"compress/bzip2"
	"io"
)

// queueSource feeds a sequential decode with the input from byte start
// on: the segments taken from the queue in order, starting with first.
type queueSource struct {
	z     *Reader
	first *segment // delivered first, if not nil
	start int64    // input offset of the first byte to deliver
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
	// A segment's own bytes end where the next one's begin.
	skip := min(int64(s.own), max(0, q.start-s.off))
	q.seg, q.rest = s, s.buf[skip:s.own]
	return nil
}

// emptyStream is a whole bzip2 stream with no blocks: header, end-of-stream
// magic, combined CRC 0. It decodes to nothing and ends on a byte boundary.
var emptyStream = []byte{'B', 'Z', 'h', '9', 0x17, 0x72, 0x45, 0x38, 0x50, 0x90, 0, 0, 0, 0}

// sequential decodes the rest of the input, from point p of segment first
// (nil if the input is empty), with compress/bzip2, exactly as it would
// continue from there, and sends the output, less its first skip bytes
// (sent already), and the final piece (io.EOF or the error). A head point
// is in the stream state in. Once it runs, the workers stop decoding:
// their output would not be used.
//
// Every byte before p has been output as compress/bzip2 outputs it, and p
// is a place compress/bzip2 passes through. At the input's start the
// decode starts there. At a stream boundary, which compress/bzip2 reads
// differently at the start of its input and after a stream ("bad magic
// value" against "bad magic value in continuation file"), the decode is
// started after an empty stream, so that the bytes from p on are read as
// what follows a stream, as they are. Inside a stream, at a block boundary,
// it is started after a stream header and one block (see resumePrefix)
// that put compress/bzip2 in the state it has there: the stream's level,
// its combined CRC, and the same bit offset within a byte.
func (z *Reader) sequential(first *segment, p point, in chain, skip int) {
	z.seqMode.Store(true)
	src := &queueSource{z: z, first: first}
	defer func() {
		if src.seg != nil {
			z.release(src.seg)
		}
	}()
	if p.head {
		p.open, p.level, p.crc = in.open, in.level, in.crc
	}
	var in0 io.Reader = src
	if first != nil {
		src.start = first.off + int64(p.bit/8)
		switch {
		case p.open:
			prefix, err := resumePrefix(p.level, p.crc, p.bit%8)
			if err != nil {
				z.send(piece{err: err})
				return
			}
			if p.bit%8 != 0 {
				// The prefix's last byte ends with the bits of the
				// input's byte from the point on.
				k := len(prefix) - 1
				prefix[k] |= first.buf[p.bit/8] & (0xff >> (p.bit % 8))
				src.start++
			}
			in0 = io.MultiReader(bytes.NewReader(prefix), src)
			skip += resumeBytes
		case src.start > 0:
			in0 = io.MultiReader(bytes.NewReader(emptyStream), src)
		}
	}
	d := bzip2.NewReader(in0)
	for {
		buf := z.streams.get(z.done)
		if buf == nil {
			return
		}
		n, err := d.Read(buf)
		data := buf[:n]
		if skip > 0 {
			k := min(skip, n)
			data, skip = data[k:], skip-k
		}
		if len(data) > 0 {
			if !z.send(piece{data: data, buf: buf, pool: z.streams}) {
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
