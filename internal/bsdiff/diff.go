package bsdiff

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/dsnet/compress/bzip2"
)

// Diff writes a patch that turns old into new. Inputs are trusted (the
// publisher's own files). Each is at most 2 GiB - 1 bytes.
func Diff(w io.Writer, old, new []byte) error {
	if len(old) > maxText || len(new) > maxText {
		return fmt.Errorf("bsdiff: inputs of %d and %d bytes: at most %d each", len(old), len(new), maxText)
	}
	s := scan(old, new)
	var (
		packed [3]bytes.Buffer
		errs   [3]error
		wg     sync.WaitGroup
	)
	for i, data := range [3][]byte{s.ctrl, s.diff, s.extra} {
		wg.Go(func() { errs[i] = compress(&packed[i], data) })
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

// compress writes data to w as one bzip2 stream (bspatch reads exactly
// one per section).
func compress(w io.Writer, data []byte) error {
	z, err := bzip2.NewWriter(w, &bzip2.WriterConfig{Level: 9})
	if err != nil {
		return fmt.Errorf("bsdiff: %w", err)
	}
	if _, err := z.Write(data); err != nil {
		return fmt.Errorf("bsdiff: compressing: %w", err)
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

// scan runs bsdiff's approximate-match scan over new. It looks for exact
// matches of new's suffixes in old (through old's suffix array), and takes
// one only when it is more than 8 bytes longer than the stretch that
// already matches at the current offset (so that a run of small changes,
// such as moved addresses, stays in one diff region). Between two taken
// matches, the region after the first is extended forward, and the one
// before the second backward, as long as more than half of the bytes
// agree; those become diff bytes, what lies between them extra bytes.
func scan(old, new []byte) *streams {
	sa := suffixArray(old)
	s := &streams{}
	var (
		pos, length           int // the match found at cur
		lastCur, lastPos, off int // the end of the last region, and the offset there (old - new)
	)
	for cur := 0; cur < len(new); {
		score := 0 // bytes of new[probe:cur+length] that agree with old at the current offset
		probe := cur + length
		cur = probe
		for ; cur < len(new); cur++ {
			pos, length = longestMatch(sa, old, new[cur:])
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
			s.diff = append(s.diff, new[lastCur+i]-old[lastPos+i])
		}
		s.extra = append(s.extra, new[lastCur+fwd:cur-back]...)
		s.triple(fwd, cur-back-(lastCur+fwd), pos-back-(lastPos+fwd))
		lastCur, lastPos, off = cur-back, pos-back, pos-cur
	}
	return s
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

// longestMatch returns the position in old and the length of the longest
// prefix of want found in old, through old's suffix array.
func longestMatch(sa []int32, old, want []byte) (pos, length int) {
	if len(sa) == 0 {
		return 0, 0
	}
	// Find the first suffix not less than want: the longest match is it
	// or the one before.
	lo, hi := 0, len(sa)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if bytes.Compare(old[sa[mid]:], want) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	for _, i := range []int{lo - 1, lo} {
		if i < 0 || i >= len(sa) {
			continue
		}
		p := int(sa[i])
		if l := commonPrefix(old[p:], want); l > length || length == 0 && i == lo-1 {
			pos, length = p, l
		}
	}
	return pos, length
}

func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
