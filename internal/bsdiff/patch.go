package bsdiff

import (
	"errors"
	"fmt"
	"io"

	"github.com/safeupdate/safeupdate/internal/pbzip2"
)

// chunkSize is the most Patch reads or writes at once.
const chunkSize = 64 << 10

// Patch applies an untrusted patch (patchSize bytes readable from patch) to
// old (oldSize bytes), writing exactly newSize bytes to out, or failing.
//
// A patch whose header does not declare newSize fails with ErrSize before
// anything is decoded, as does one whose triples would write more; any
// other malformed patch fails with ErrCorrupt. Errors from old and out are
// returned wrapped. On error, out has received an unverified prefix of the
// output. Even on success the output is only what the patch says: the
// caller must check its hash. Memory is bounded whatever the input, and
// work is linear in newSize plus patchSize.
func Patch(out io.Writer, old io.ReaderAt, oldSize int64, patch io.ReaderAt, patchSize, newSize int64) error {
	if oldSize < 0 || patchSize < 0 || newSize < 0 {
		return fmt.Errorf("bsdiff: negative size (old %d, patch %d, new %d)", oldSize, patchSize, newSize)
	}
	if patchSize < headerSize {
		return corrupt("%d bytes is shorter than the header", patchSize)
	}
	hb := make([]byte, headerSize)
	if _, err := patch.ReadAt(hb, 0); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("bsdiff: reading patch: %w", err)
	}
	h, err := parseHeader(hb)
	if err != nil {
		return err
	}
	if h.newSize != newSize {
		return fmt.Errorf("%w: header says %d bytes, expected %d", ErrSize, h.newSize, newSize)
	}
	body := patchSize - headerSize
	if h.ctrlLen > body || h.diffLen > body-h.ctrlLen {
		return corrupt("stream lengths %d and %d exceed the %d bytes after the header", h.ctrlLen, h.diffLen, body)
	}
	a := &applier{out: out, old: old, oldSize: oldSize, newSize: newSize}
	sections := [3]*io.SectionReader{
		io.NewSectionReader(patch, headerSize, h.ctrlLen),
		io.NewSectionReader(patch, headerSize+h.ctrlLen, h.diffLen),
		io.NewSectionReader(patch, headerSize+h.ctrlLen+h.diffLen, body-h.ctrlLen-h.diffLen),
	}
	for i, s := range sections {
		// One worker each: the three decoders run side by side, and their
		// memory adds up.
		r, err := pbzip2.NewReader(s, pbzip2.Workers(1))
		if err != nil {
			return fmt.Errorf("bsdiff: %w", err)
		}
		defer r.Close()
		a.streams[i] = stream{r: r, name: streamNames[i]}
	}
	return a.run()
}

var streamNames = [3]string{"control", "diff", "extra"}

// A stream is one of the patch's three decoded streams.
type stream struct {
	r    io.Reader
	name string
}

// readFull fills b from the stream; a stream that ends first is corrupt.
func (s stream) readFull(b []byte) error {
	if _, err := io.ReadFull(s.r, b); err != nil {
		return s.wrap(err)
	}
	return nil
}

func (s stream) wrap(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return corrupt("%s stream ends early", s.name)
	}
	if errors.Is(err, pbzip2.ErrCorrupt) {
		return fmt.Errorf("%w: %s stream: %w", ErrCorrupt, s.name, err)
	}
	return fmt.Errorf("bsdiff: %s stream: %w", s.name, err)
}

// atEnd checks that nothing is left in the stream.
func (s stream) atEnd() error {
	var b [1]byte
	n, err := io.ReadFull(s.r, b[:])
	if n > 0 {
		return corrupt("%s stream has data after the last triple", s.name)
	}
	if err != io.EOF {
		return s.wrap(err)
	}
	return nil
}

// An applier holds the state of one Patch.
type applier struct {
	out            io.Writer
	old            io.ReaderAt
	oldSize        int64
	newSize        int64
	newPos, oldPos int64 // invariant: 0 <= oldPos <= oldSize, 0 <= newPos <= newSize
	streams        [3]stream
	buf, oldBuf    [chunkSize]byte
	ctrl           [tripleSize]byte
	triples        int64 // read so far
}

func (a *applier) run() error {
	for a.newPos < a.newSize {
		x, y, z, err := a.triple()
		if err != nil {
			return err
		}
		if err := a.addDiff(x); err != nil {
			return err
		}
		if err := a.copyExtra(y); err != nil {
			return err
		}
		a.oldPos += z
	}
	for _, s := range a.streams {
		if err := s.atEnd(); err != nil {
			return err
		}
	}
	return nil
}

// triple reads the next control triple and checks it against the state:
// on success, x bytes of diff and then y of extra fit in the output, the x
// bytes of old from oldPos are inside old, and so is oldPos+x+z.
func (a *applier) triple() (x, y, z int64, err error) {
	// Diff ends a triple at a different position of the new file each time,
	// so a patch has at most newSize+1 of them. Without this bound, a small
	// patch could hold endless triples that write nothing.
	if a.triples > a.newSize {
		return 0, 0, 0, corrupt("more than %d triples for %d bytes of output", a.newSize+1, a.newSize)
	}
	a.triples++
	if err := a.streams[0].readFull(a.ctrl[:]); err != nil {
		return 0, 0, 0, err
	}
	var v [3]int64
	for i := range v {
		if v[i], err = getInt(a.ctrl[8*i:]); err != nil {
			return 0, 0, 0, corrupt("triple at output byte %d: %v", a.newPos, err)
		}
	}
	x, y, z = v[0], v[1], v[2]
	switch {
	case x < 0 || y < 0:
		return 0, 0, 0, corrupt("triple at output byte %d has a negative length (%d, %d)", a.newPos, x, y)
	case x > a.newSize-a.newPos || y > a.newSize-a.newPos-x:
		return 0, 0, 0, fmt.Errorf("%w: triple at output byte %d writes %d+%d bytes past the end", ErrSize, a.newPos, x, y)
	case x > a.oldSize-a.oldPos:
		return 0, 0, 0, corrupt("triple at output byte %d reads %d bytes at %d, past the end of the old file (%d bytes)", a.newPos, x, a.oldPos, a.oldSize)
	case z > a.oldSize-a.oldPos-x || z < -(a.oldPos+x):
		return 0, 0, 0, corrupt("triple at output byte %d moves by %d from %d, outside the old file (%d bytes)", a.newPos, z, a.oldPos+x, a.oldSize)
	}
	return x, y, z, nil
}

// addDiff writes n bytes: the next n of the diff stream added to old's from
// oldPos, and advances both positions.
func (a *applier) addDiff(n int64) error {
	for n > 0 {
		c := int(min(n, chunkSize))
		d, o := a.buf[:c], a.oldBuf[:c]
		if err := a.streams[1].readFull(d); err != nil {
			return err
		}
		if k, err := a.old.ReadAt(o, a.oldPos); k < c {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("bsdiff: reading old file at %d: %w", a.oldPos, err)
		}
		for i := range d {
			d[i] += o[i]
		}
		if err := a.write(d); err != nil {
			return err
		}
		a.oldPos += int64(c)
		n -= int64(c)
	}
	return nil
}

// copyExtra writes the next n bytes of the extra stream.
func (a *applier) copyExtra(n int64) error {
	for n > 0 {
		c := int(min(n, chunkSize))
		if err := a.streams[2].readFull(a.buf[:c]); err != nil {
			return err
		}
		if err := a.write(a.buf[:c]); err != nil {
			return err
		}
		n -= int64(c)
	}
	return nil
}

func (a *applier) write(b []byte) error {
	if _, err := a.out.Write(b); err != nil {
		return fmt.Errorf("bsdiff: writing output: %w", err)
	}
	a.newPos += int64(len(b))
	return nil
}
