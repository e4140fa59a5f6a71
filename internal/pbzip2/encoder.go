package pbzip2

import (
	"bytes"
	"encoding/binary"
)

// blockMax is the most bytes of run-length encoded input put in one block.
// Level 9 allows 900000; a small margin keeps clear of any decoder that
// counts its limit differently.
const blockMax = 900000 - 64

// The 48-bit magic numbers of the bzip2 format that start a block and end a
// stream.
const (
	blockMagic = 0x314159265359
	finalMagic = 0x177245385090
)

// Symbols of the second stage: runs of MTF position 0 are written as
// bijective base-2 numbers with the digits runA (1) and runB (2), least
// significant first; position p > 0 is symbol p+1; the block ends with
// symbol len(alphabet)+1.
const (
	runA = 0
	runB = 1
)

// An encoder compresses whole bzip2 streams; one per worker, reused.
type encoder struct {
	block     []byte   // run-length encoded input of the current block
	last      []byte   // BWT last column
	rot       []byte   // rotated block for the suffix sort
	sa        []int32  // suffix array
	syms      []uint16 // second-stage symbols
	selectors []uint8
	trial     []uint8 // selectors being tried
	lens      [maxTables][maxAlpha]uint8
	codes     [maxTables][maxAlpha]uint32
	bw        bitWriter
	padSel    int // selectors written beyond those needed (see resumePrefix)
}

// bitWriter writes bits most-significant first.
type bitWriter struct {
	out  []byte
	acc  uint64
	nacc uint // pending bits in acc, < 32 between calls
}

// writeBits writes the low n bits (at most 32) of v.
func (w *bitWriter) writeBits(n uint, v uint32) {
	w.acc = w.acc<<n | uint64(v)
	w.nacc += n
	if w.nacc >= 32 {
		w.nacc -= 32
		w.out = binary.BigEndian.AppendUint32(w.out, uint32(w.acc>>w.nacc))
	}
}

// align pads with zero bits to a byte boundary and flushes.
func (w *bitWriter) align() {
	w.writeBits((8-w.nacc%8)%8, 0)
	for ; w.nacc > 0; w.nacc -= 8 {
		w.out = append(w.out, byte(w.acc>>(w.nacc-8)))
	}
}

// rle1 run-length encodes src into dst (a run of 4 to 255 equal bytes is
// written as four of them and a count of the rest) until dst would exceed
// blockMax bytes. It returns the encoded bytes and how much of src they
// cover.
func rle1(dst, src []byte) ([]byte, int) {
	i := 0
	for i < len(src) {
		b := src[i]
		end := i + 1
		for end < len(src) && end-i < 255 && src[end] == b {
			end++
		}
		run := end - i
		if run < 4 {
			if len(dst)+run > blockMax {
				break
			}
			dst = append(dst, src[i:end]...)
		} else {
			if len(dst)+5 > blockMax {
				break
			}
			dst = append(dst, b, b, b, b, byte(run-4))
		}
		i = end
	}
	return dst, i
}

// encodeStream appends to out a complete level-9 bzip2 stream holding in.
func (e *encoder) encodeStream(out, in []byte) ([]byte, error) {
	e.bw = bitWriter{out: out}
	e.bw.writeBits(32, 'B'<<24|'Z'<<16|'h'<<8|'9')
	var combined uint32
	for len(in) > 0 {
		var n int
		e.block, n = rle1(e.block[:0], in)
		crc := updateCRC(0, in[:n])
		combined = (combined<<1 | combined>>31) ^ crc
		if err := e.encodeBlock(crc); err != nil {
			return out, err
		}
		in = in[n:]
	}
	e.bw.writeBits(24, finalMagic>>24)
	e.bw.writeBits(24, finalMagic&0xffffff)
	e.bw.writeBits(32, combined)
	e.bw.align()
	return e.bw.out, nil
}

// encodeBlock writes the block in e.block, whose input had the given CRC.
func (e *encoder) encodeBlock(crc uint32) error {
	n := len(e.block)
	if cap(e.last) < n {
		e.last = make([]byte, n)
	}
	last := e.last[:n]
	origPtr, err := e.bwt(e.block, last)
	if err != nil {
		return err
	}
	bw := &e.bw
	bw.writeBits(24, blockMagic>>24)
	bw.writeBits(24, blockMagic&0xffffff)
	bw.writeBits(32, crc)
	bw.writeBits(1, 0) // not randomized
	bw.writeBits(24, uint32(origPtr))

	// The alphabet: the byte values present, as sixteen 16-bit masks, each
	// written only if its bit in a first 16-bit mask is set.
	var present [16]uint16
	for _, b := range e.block {
		present[b>>4] |= 0x8000 >> (b & 15)
	}
	var summary uint16
	for i, m := range present {
		if m != 0 {
			summary |= 0x8000 >> i
		}
	}
	bw.writeBits(16, uint32(summary))
	var rank [256]byte // a byte's index in the alphabet
	size := 0
	for i, m := range present {
		if m == 0 {
			continue
		}
		bw.writeBits(16, uint32(m))
		for j := range 16 {
			if m&(0x8000>>j) != 0 {
				rank[i*16+j] = byte(size)
				size++
			}
		}
	}

	syms := e.secondStage(last, &rank, size)
	alphaSize := size + 2
	nt := e.chooseTables(syms, alphaSize)
	for t := range nt {
		canonicalCodes(e.codes[t][:alphaSize], e.lens[t][:alphaSize])
	}

	bw.writeBits(3, uint32(nt))
	bw.writeBits(15, uint32(len(e.selectors)+e.padSel))
	order := [maxTables]uint8{0, 1, 2, 3, 4, 5}
	for _, t := range e.selectors {
		j := bytes.IndexByte(order[:nt], t)
		copy(order[1:j+1], order[:j])
		order[0] = t
		bw.writeBits(uint(j+1), 1<<(j+1)-2) // j one bits and a zero bit
	}
	for range e.padSel {
		bw.writeBits(1, 0) // the same table again, unused
	}
	for t := range nt {
		lens := e.lens[t][:alphaSize]
		at := lens[0]
		bw.writeBits(5, uint32(at))
		for _, l := range lens {
			for ; at < l; at++ {
				bw.writeBits(2, 0b10)
			}
			for ; at > l; at-- {
				bw.writeBits(2, 0b11)
			}
			bw.writeBits(1, 0)
		}
	}
	for g, t := range e.selectors {
		lens, codes := &e.lens[t], &e.codes[t]
		for _, s := range syms[g*groupSize : min((g+1)*groupSize, len(syms))] {
			bw.writeBits(uint(lens[s]), codes[s])
		}
	}
	return nil
}

// secondStage turns the BWT output into symbols: move-to-front positions
// over the block's alphabet (rank maps a byte to its index in it, size is
// its length), with runs of position 0 as runA/runB numbers, then the end
// of block symbol.
func (e *encoder) secondStage(last []byte, rank *[256]byte, size int) []uint16 {
	out := e.syms[:0]
	var list [256]byte // the alphabet indices, most recently seen first
	for i := range size {
		list[i] = byte(i)
	}
	zeros := 0
	for _, b := range last {
		c := rank[b]
		if list[0] == c {
			zeros++
			continue
		}
		out = appendZeros(out, zeros)
		zeros = 0
		// Small positions dominate: look there first, else search the
		// rest with IndexByte.
		var p int
		switch c {
		case list[1]:
			p, list[1] = 1, list[0]
		case list[2]:
			p, list[2], list[1] = 2, list[1], list[0]
		default:
			p = 3 + bytes.IndexByte(list[3:size], c)
			copy(list[1:p+1], list[:p])
		}
		list[0] = c
		out = append(out, uint16(p+1))
	}
	out = appendZeros(out, zeros)
	out = append(out, uint16(size+1))
	e.syms = out
	return out
}

// appendZeros appends the runA/runB digits of n, the length of a run of
// MTF position 0.
func appendZeros(out []uint16, n int) []uint16 {
	for n > 0 {
		if n%2 == 1 {
			out = append(out, runA)
			n = (n - 1) / 2
		} else {
			out = append(out, runB)
			n = (n - 2) / 2
		}
	}
	return out
}
