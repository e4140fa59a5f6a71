package pbzip2

import (
	"encoding/binary"
	"fmt"
	"index/suffixarray"
)

// The Burrows-Wheeler transform sorts the rotations of a block. A suffix
// array sorts suffixes instead; the two orders agree when the block is a
// Lyndon word (strictly smaller than each of its other rotations), because
// then a suffix that is a prefix of another suffix is also the smaller
// rotation. Every block that is not periodic has exactly one rotation that
// is a Lyndon word, and rotating the block does not change the set of its
// rotations. So bwt rotates the block to that rotation and sorts its
// suffixes with index/suffixarray (SA-IS, linear time, no worst case on
// repetitive data). A periodic block (rare: its rotations repeat) is sorted
// through the suffixes of the block written twice.

// minRotation returns the start of the lexicographically least rotation of
// b, and whether b is periodic (two of its rotations are equal).
func minRotation(b []byte) (start int, periodic bool) {
	n := len(b)
	i, j, k := 0, 1, 0
	for i < n && j < n && k < n {
		ii, jj := i+k, j+k
		if ii >= n {
			ii -= n
		}
		if jj >= n {
			jj -= n
		}
		a, c := b[ii], b[jj]
		if a == c {
			k++
			continue
		}
		if a > c {
			i += k + 1
		} else {
			j += k + 1
		}
		if i == j {
			j++
		}
		k = 0
	}
	return min(i, j), k == n
}

// bwt writes the last column of the sorted rotations of block to last
// (len(block) bytes) and returns the row of the unrotated block.
func (e *encoder) bwt(block, last []byte) (origPtr int, err error) {
	n := len(block)
	start, periodic := minRotation(block)
	w := e.rot[:0]
	if periodic {
		w = append(append(w, block...), block...)
	} else {
		w = append(append(w, block[start:]...), block[:start]...)
	}
	e.rot = w
	sa, err := e.suffixArray(w)
	if err != nil {
		return 0, err
	}
	want := int32((n - start) % n) // where the unrotated block starts in w
	if periodic {
		want = 0
	}
	row := 0
	for _, v := range sa {
		if int(v) >= n {
			continue // second copy of a periodic block
		}
		if v == want {
			origPtr = row
		}
		p := int(v) - 1
		if p < 0 {
			p = n - 1
		}
		last[row] = w[p]
		row++
	}
	return origPtr, nil
}

// suffixArray returns the suffix array of w. index/suffixarray does not
// export the array it builds, so it is read back from the index's
// serialized form (Index.Write), a format that Index.Read must keep reading.
func (e *encoder) suffixArray(w []byte) ([]int32, error) {
	sw := saWriter{sa: e.sa[:0]}
	if err := suffixarray.New(w).Write(&sw); err != nil {
		return nil, err
	}
	e.sa = sw.sa
	if sw.state != saSliceHeader || sw.partLeft != 0 || len(sw.sa) != len(w) {
		return nil, fmt.Errorf("pbzip2: unexpected suffix array encoding (%d of %d entries)", len(sw.sa), len(w))
	}
	return sw.sa, nil
}

// saWriter parses suffixarray.Index.Write output: a 10-byte varint length
// n, the n data bytes, then slices, each a 10-byte varint p followed by
// p-10 bytes of uvarint suffix array entries.
type saWriter struct {
	sa       []int32
	state    int
	head     [binary.MaxVarintLen64]byte
	headLen  int
	partLeft int64  // bytes left in the data or the current slice
	x        uint64 // uvarint being decoded
	shift    uint
}

const (
	saHeader = iota
	saData
	saSliceHeader
	saSlice
)

func (s *saWriter) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		switch s.state {
		case saHeader, saSliceHeader:
			k := copy(s.head[s.headLen:], p)
			s.headLen += k
			p = p[k:]
			if s.headLen < len(s.head) {
				continue
			}
			s.headLen = 0
			v, m := binary.Varint(s.head[:])
			if m <= 0 || v < 0 {
				return 0, fmt.Errorf("pbzip2: bad suffix array header")
			}
			if s.state == saHeader {
				s.partLeft, s.state = v, saData
			} else {
				if v < int64(len(s.head)) {
					return 0, fmt.Errorf("pbzip2: bad suffix array slice")
				}
				s.partLeft, s.state = v-int64(len(s.head)), saSlice
			}
		case saData:
			k := int(min(s.partLeft, int64(len(p))))
			p = p[k:]
			s.partLeft -= int64(k)
		case saSlice:
			k := int(min(s.partLeft, int64(len(p))))
			q := p[:k]
			for s.shift == 0 && len(q) > 0 { // fast path: whole uvarints
				v, m := binary.Uvarint(q)
				if m <= 0 {
					break
				}
				s.sa = append(s.sa, int32(v))
				q = q[m:]
			}
			for _, b := range q {
				s.x |= uint64(b&0x7f) << s.shift
				if b < 0x80 {
					s.sa = append(s.sa, int32(s.x))
					s.x, s.shift = 0, 0
				} else {
					s.shift += 7
				}
			}
			p = p[k:]
			s.partLeft -= int64(k)
		}
		if (s.state == saData || s.state == saSlice) && s.partLeft == 0 {
			s.state = saSliceHeader
		}
	}
	return total, nil
}
