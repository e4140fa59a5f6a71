package bsdiff

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Format is the name release.json gives the format.
const Format = "bsdiff40"

// ErrCorrupt is matched (with errors.Is) by every error that reports a
// malformed patch; the error says what is wrong.
var ErrCorrupt = errors.New("bsdiff: corrupt patch")

// ErrSize is matched by the error of a patch whose header's new size is not
// the size the caller expects, or whose triples would write past it.
var ErrSize = errors.New("bsdiff: patch output size differs from the expected size")

const (
	magic      = "BSDIFF40"
	headerSize = 32
	tripleSize = 24
)

// corrupt returns an ErrCorrupt error saying why.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// putInt writes v as bsdiff's 8-byte little-endian sign-magnitude integer.
func putInt(b []byte, v int64) {
	u := uint64(v)
	if v < 0 {
		u = uint64(-v) | 1<<63
	}
	binary.LittleEndian.PutUint64(b, u)
}

// getInt reads bsdiff's sign-magnitude integer. A negative zero is refused:
// no writer produces it, and accepting two encodings of 0 serves nobody.
func getInt(b []byte) (int64, error) {
	u := binary.LittleEndian.Uint64(b)
	mag := int64(u &^ (1 << 63))
	if u&(1<<63) == 0 {
		return mag, nil
	}
	if mag == 0 {
		return 0, errors.New("negative zero")
	}
	return -mag, nil
}

// header is a patch's header: the compressed sizes of the control and diff
// streams and the size of the new file.
type header struct {
	ctrlLen, diffLen, newSize int64
}

func (h header) marshal() []byte {
	b := make([]byte, headerSize)
	copy(b, magic)
	putInt(b[8:], h.ctrlLen)
	putInt(b[16:], h.diffLen)
	putInt(b[24:], h.newSize)
	return b
}

func parseHeader(b []byte) (header, error) {
	if string(b[:8]) != magic {
		return header{}, corrupt("not a BSDIFF40 patch")
	}
	var h header
	for i, f := range []*int64{&h.ctrlLen, &h.diffLen, &h.newSize} {
		v, err := getInt(b[8+8*i:])
		if err != nil {
			return header{}, corrupt("header field %d: %v", i+1, err)
		}
		if v < 0 {
			return header{}, corrupt("header field %d is negative (%d)", i+1, v)
		}
		*f = v
	}
	return h, nil
}
