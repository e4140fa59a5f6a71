package bsdiff

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"runtime"
	"sync"

	"github.com/dsnet/compress/bzip2"
)

// Diff writes a patch that turns old into new. Inputs are trusted (the
// publisher's own files). Each is at most 2 GiB - 1 bytes.
func Diff(w io.Writer, old, new []byte) error {
	if len(old) > maxText || len(new) > maxText {
		return fmt.Errorf("bsdiff: inputs of %d and %d bytes: at most %d each", len(old), len(new), maxText)
	}
	parts := scan(old, new)
	var (
		packed [3]bytes.Buffer
		errs   [3]error
		wg     sync.WaitGroup
	)
	var pieces [3][][]byte
	for _, p := range parts {
		pieces[0] = append(pieces[0], p.ctrl)
		pieces[1] = append(pieces[1], p.diff)
		pieces[2] = append(pieces[2], p.extra)
	}
	for i := range pieces {
		wg.Go(func() { errs[i] = compress(&packed[i], pieces[i]...) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	h := header{ctrlLen: int64(packed[0].Len()), diffLen: int64(packed[1].Len()), newSize: int64(len(new))}
	if _, err := w.Write(h.marshal()); err != nil {
		return fmt.Errorf("bsdiff: writing patch: %w", err)
	}
	for i := range packed {
		if _, err := packed[i].WriteTo(w); err != nil {
			return fmt.Errorf("bsdiff: writing patch: %w", err)
		}
	}
	return nil
}

// compress writes the pieces of data to w as one bzip2 stream (bspatch
// reads exactly one per section).
func compress(w io.Writer, data ...[]byte) error {
	z, err := bzip2.NewWriter(w, &bzip2.WriterConfig{Level: 9})
	if err != nil {
		return fmt.Errorf("bsdiff: %w", err)
	}
	for _, d := range data {
		if _, err := z.Write(d); err != nil {
			return fmt.Errorf("bsdiff: compressing: %w", err)
		}
	}
	if err := z.Close(); err != nil {
		return fmt.Errorf("bsdiff: compressing: %w", err)
	}
	return nil
}

// streams holds a patch's three streams, uncompressed.
type streams struct {
	ctrl, diff, extra []byte
}

func (s *streams) triple(x, y, z int) {
	var b [tripleSize]byte
	putInt(b[0:], int64(x))
	putInt(b[8:], int64(y))
	putInt(b[16:], int64(z))
	s.ctrl = append(s.ctrl, b[:]...)
}

// partSize is the length of the parts of new that scan scans
// independently, in parallel. Each part costs one extra triple and the
// matches that would have crossed its start; a fixed size keeps patches
// independent of the number of cores.
var partSize = 8 << 20 // a variable for the tests

// scan runs bsdiff's approximate-match scan over new: see scanPart. The
// parts of new are scanned on all cores; their streams, one after the
// other, are the patch's.
func scan(old, new []byte) []*part {
	ix := newIndex(old)
	n := max(1, (len(new)+partSize-1)/partSize)
	parts := make([]*part, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := range next {
				parts[i] = scanPart(ix, new[:min((i+1)*partSize, len(new))], i*partSize)
			}
		})
	}
	wg.Wait()
	for i, p := range parts[:n-1] {
		// Leave the old position where the next part starts from.
		last := p.ctrl[len(p.ctrl)-8:]
		z, _ := getInt(last)
		putInt(last, z+int64(parts[i+1].startPos-p.endPos))
	}
	return parts
}

// A part is the streams for a part of new, which start at old position
// startPos and leave it at endPos.
type part struct {
	streams
	startPos, endPos int
}

// scanPart runs bsdiff's approximate-match scan over new[from:]. It looks
// for exact matches of new's suffixes in old, and takes one only when it is
// more than 8 bytes longer than the stretch that already matches at the
// current offset (so that a run of small changes, such as moved addresses,
// stays in one diff region). Between two taken matches, the region after
// the first is extended forward, and the one before the second backward,
// as long as more than half of the bytes agree; those become diff bytes,
// what lies between them extra bytes.
func scanPart(ix *index, new []byte, from int) *part {
	old := ix.old
	p := &part{startPos: min(from, len(old))}
	p.diff = make([]byte, 0, len(new)-from) // diff and extra bytes add up to that
	var (
		pos, length      int // the match found at cur
		lastCur, lastPos = from, p.startPos
		off              = lastPos - lastCur // old - new at the current offset; probe+off >= lastPos >= 0 below
	)
	for cur := from; cur < len(new); {
		score := 0 // bytes of new[probe:cur+length] that agree with old at the current offset
		probe := cur + length
		cur = probe
		for ; cur < len(new); cur++ {
			pos, length = ix.longestMatch(new[cur:])
			for ; probe < cur+length; probe++ {
				if probe+off < len(old) && old[probe+off] == new[probe] {
					score++
				}
			}
			if length == score && length != 0 || length > score+8 {
				break
			}
			if cur+off < len(old) && old[cur+off] == new[cur] {
				score--
			}
		}
		if length == score && cur != len(new) {
			continue
		}
		fwd := extendForward(old[lastPos:], new[lastCur:cur])
		back := 0
		if cur < len(new) {
			back = extendBackward(old[:pos], new[lastCur:cur])
		}
		if over := lastCur + fwd - (cur - back); over > 0 {
			// The two extensions overlap: split the overlap where the
			// first one's matches minus the second one's peak.
			split := splitOverlap(old, new, lastPos+fwd-over, lastCur+fwd-over, pos-back, cur-back, over)
			fwd += split - over
			back -= split
		}
		for i := range fwd {
			p.diff = append(p.diff, new[lastCur+i]-old[lastPos+i])
		}
		p.extra = append(p.extra, new[lastCur+fwd:cur-back]...)
		p.triple(fwd, cur-back-(lastCur+fwd), pos-back-(lastPos+fwd))
		lastCur, lastPos, off = cur-back, pos-back, pos-cur
	}
	p.endPos = lastPos
	return p
}

// extendForward returns the length of the prefix of new, compared with
// old, where twice the agreeing bytes minus the length is largest.
func extendForward(old, new []byte) int {
	n := min(len(old), len(new))
	agree, best, bestLen := 0, 0, 0
	for i := range n {
		if old[i] == new[i] {
			agree++
		}
		if score := 2*agree - (i + 1); score > best {
			best, bestLen = score, i+1
		}
	}
	return bestLen
}

// extendBackward is extendForward over the suffixes of old and new, read
// backwards.
func extendBackward(old, new []byte) int {
	n := min(len(old), len(new))
	agree, best, bestLen := 0, 0, 0
	for i := 1; i <= n; i++ {
		if old[len(old)-i] == new[len(new)-i] {
			agree++
		}
		if score := 2*agree - i; score > best {
			best, bestLen = score, i
		}
	}
	return bestLen
}

// splitOverlap returns how many of the n overlapping bytes go to the
// forward extension (at oldF, newF) rather than the backward one (at oldB,
// newB): the point where the forward one's agreements minus the backward
// one's are highest.
func splitOverlap(old, new []byte, oldF, newF, oldB, newB, n int) int {
	score, best, split := 0, 0, 0
	for i := range n {
		if new[newF+i] == old[oldF+i] {
			score++
		}
		if new[newB+i] == old[oldB+i] {
			score--
		}
		if score > best {
			best, split = score, i+1
		}
	}
	return split
}

// An index finds the longest matches in old: its suffix array, and where
// the suffixes starting with each pair of bytes are in it.
type index struct {
	old        []byte
	sa         []int32
	start, end []int32 // by the first two bytes: the range of sa starting with them
}

func newIndex(old []byte) *index {
	ix := &index{old: old, sa: suffixArray(old), start: make([]int32, 1<<16), end: make([]int32, 1<<16)}
	for i, p := range ix.sa {
		if int(p)+2 > len(old) {
			continue
		}
		k := int(old[p])<<8 | int(old[p+1])
		if ix.end[k] == 0 {
			ix.start[k] = int32(i)
		}
		ix.end[k] = int32(i + 1)
	}
	return ix
}

// longestMatch returns the position in old and the length of the longest
// prefix of want found in old. It searches the suffixes that start with
// want's first two bytes if there are any, else all of them.
func (ix *index) longestMatch(want []byte) (pos, length int) {
	if len(want) >= 2 {
		k := int(want[0])<<8 | int(want[1])
		if lo, hi := ix.start[k], ix.end[k]; hi > 0 {
			return longestMatch(ix.sa[lo:hi], ix.old, want, 2)
		}
	}
	return longestMatch(ix.sa, ix.old, want, 0)
}

// longestMatch returns the position in old and the length of the longest
// prefix of want found in old, through sa: a range of old's suffix array
// whose suffixes all share their first known bytes with want. The binary
// search keeps the length of the prefix want shares with the suffixes at
// both ends of the range, which every suffix in between shares too, so
// that comparisons start after it: a search costs O(log n + the match).
func longestMatch(sa []int32, old, want []byte, known int) (pos, length int) {
	// Invariant: the suffixes before lo are less than want, those from hi
	// on are not; lcpLo and lcpHi are want's common prefixes with the
	// suffixes at lo-1 and hi.
	lo, hi := 0, len(sa)
	lcpLo, lcpHi := known, known
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		k := min(lcpLo, lcpHi)
		s := old[sa[mid]:]
		l := k + commonPrefix(s[k:], want[k:])
		if l < len(want) && (l == len(s) || s[l] < want[l]) {
			lo, lcpLo = mid+1, l
		} else {
			hi, lcpHi = mid, l
		}
	}
	// The longest match is next to where want would be inserted.
	if lo > 0 {
		pos, length = int(sa[lo-1]), lcpLo
	}
	if lo < len(sa) && (lo == 0 || lcpHi > length) {
		pos, length = int(sa[lo]), lcpHi
	}
	return pos, length
}

// commonPrefix returns the length of the common prefix of a and b.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for ; i+8 <= n; i += 8 {
		if x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for ; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
