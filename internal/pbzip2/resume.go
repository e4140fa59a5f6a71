package pbzip2

import "fmt"

// A sequential decode that takes over inside a stream must start
// compress/bzip2 in the state it is in there: the stream's block size
// (level), the combined CRC of the stream's blocks so far, and the bit
// offset within a byte (compress/bzip2 skips to a byte boundary after a
// stream, counting from its own start). Its public API starts only at a
// stream header, so resumePrefix writes one followed by a block of its
// own: 4 bytes whose CRC is the combined CRC so far (a stream's combined
// CRC after one block is that block's CRC), padded with unused selectors
// to the bit offset wanted. The prefix's 4 bytes of output are dropped.

// resumeBytes is the output of the block resumePrefix writes.
const resumeBytes = 4

// resumePrefix returns a stream header for level (1..9) and a block whose
// output has CRC crc, taking 8*len-(8-bit) bits if bit > 0 (the last byte's
// low 8-bit bits are zero), 8*len bits if bit is 0.
func resumePrefix(level int, crc uint32, bit int) ([]byte, error) {
	w := forceCRC(crc)
	var e encoder
	encode := func() (int, error) {
		e.bw = bitWriter{}
		e.bw.writeBits(32, 'B'<<24|'Z'<<16|'h'<<8|uint32('0'+level))
		e.block, _ = rle1(e.block[:0], w[:])
		err := e.encodeBlock(crc)
		return 8*len(e.bw.out) + int(e.bw.nacc), err
	}
	n, err := encode()
	if err != nil {
		return nil, fmt.Errorf("%w: resume block: %v", errLost, err)
	}
	e.padSel = (bit - n%8 + 8) % 8
	if n, err = encode(); err != nil || n%8 != bit {
		return nil, fmt.Errorf("%w: resume block of %d bits for offset %d (%v)", errLost, n, bit, err)
	}
	e.bw.align()
	return e.bw.out, nil
}

// forceCRC returns 4 bytes whose bzip2 CRC is crc.
func forceCRC(crc uint32) [4]byte {
	// The CRC register after 4 bytes w, from r, is (r^w)*x^32 mod the
	// polynomial; the register starts at all ones and ends at ^crc.
	const poly = 0x04C11DB7
	r := ^crc
	for range 32 { // undo one bit step: r = r<<1 ^ (poly if the top bit was set)
		if r&1 != 0 {
			r = (r^poly)>>1 | 1<<31
		} else {
			r >>= 1
		}
	}
	w := r ^ 0xffffffff
	return [4]byte{byte(w >> 24), byte(w >> 16), byte(w >> 8), byte(w)}
}
