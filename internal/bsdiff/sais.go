package bsdiff

// This file builds suffix arrays with SA-IS (Nong, Zhang and Chan, "Two
// Efficient Algorithms for Linear Time Suffix Array Construction", 2011):
// sort the LMS substrings by induced sorting, name them, sort the reduced
// string (recursively when names repeat), and induce the order of all
// suffixes from the sorted LMS suffixes. Positions are int32, so the input
// is limited to 2 GiB - 1 bytes; the end of the text is a virtual sentinel
// smaller than every character.

// maxText is the longest text suffixArray sorts.
const maxText = 1<<31 - 1

// suffixArray returns the start positions of text's suffixes in
// lexicographic order. len(text) must be at most maxText.
func suffixArray(text []byte) []int32 {
	sa := make([]int32, len(text))
	sais(text, sa, 256)
	return sa
}

// A typeSet records whether each position is S-type (its suffix is smaller
// than the next one) or L-type.
type typeSet []uint64

func (t typeSet) s(i int) bool { return t[i>>6]&(1<<(i&63)) != 0 }
func (t typeSet) set(i int)    { t[i>>6] |= 1 << (i & 63) }

// lms reports whether i starts an LMS substring: S-type after L-type.
func (t typeSet) lms(i int) bool { return i > 0 && t.s(i) && !t.s(i-1) }

// sais writes into sa (len(text) entries) the suffix array of text, whose
// characters are in [0, k).
func sais[T byte | int32](text []T, sa []int32, k int) {
	n := len(text)
	switch n {
	case 0:
		return
	case 1:
		sa[0] = 0
		return
	}
	t := make(typeSet, (n+63)/64)
	// The last character is L-type: the sentinel after it is smaller.
	for i := n - 2; i >= 0; i-- {
		if text[i] < text[i+1] || text[i] == text[i+1] && t.s(i+1) {
			t.set(i)
		}
	}
	bkt := make([]int32, k)
	counts := make([]int32, k)
	for _, c := range text {
		counts[c]++
	}

	// Sort the LMS substrings: LMS positions at their bucket ends, then
	// induce.
	for i := range sa {
		sa[i] = -1
	}
	bucketEnds(counts, bkt)
	for i := 1; i < n; i++ {
		if t.lms(i) {
			c := text[i]
			bkt[c]--
			sa[bkt[c]] = int32(i)
		}
	}
	induce(text, sa, t, counts, bkt)

	// Move the sorted LMS positions to the front and name the substrings.
	m := 0
	for i := 0; i < n; i++ {
		if t.lms(int(sa[i])) {
			sa[m] = sa[i]
			m++
		}
	}
	for i := m; i < n; i++ {
		sa[i] = -1
	}
	names := 0
	prev := -1
	for i := 0; i < m; i++ {
		p := int(sa[i])
		if prev < 0 || !sameLMS(text, t, prev, p) {
			names++
		}
		prev = p
		sa[m+p/2] = int32(names - 1) // LMS positions are at least 2 apart
	}
	// Gather the names, in text order, at the end of sa: the reduced text.
	j := n
	for i := n - 1; i >= m; i-- {
		if sa[i] >= 0 {
			j--
			sa[j] = sa[i]
		}
	}
	reduced := sa[n-m:]
	sa1 := sa[:m]
	if names < m {
		sais(reduced, sa1, names)
	} else {
		for i, c := range reduced {
			sa1[c] = int32(i)
		}
	}

	// Map the reduced suffix array back to text positions, put the LMS
	// suffixes at their bucket ends in that order, and induce the rest.
	j = 0
	for i := 1; i < n; i++ {
		if t.lms(i) {
			reduced[j] = int32(i)
			j++
		}
	}
	for i := range sa1 {
		sa1[i] = reduced[sa1[i]]
	}
	for i := m; i < n; i++ {
		sa[i] = -1
	}
	bucketEnds(counts, bkt)
	for i := m - 1; i >= 0; i-- {
		p := sa[i]
		sa[i] = -1
		c := text[p]
		bkt[c]--
		sa[bkt[c]] = p
	}
	induce(text, sa, t, counts, bkt)
}

// sameLMS reports whether the LMS substrings at p and q (p != q) are equal:
// the same characters and types up to and including the next LMS position.
func sameLMS[T byte | int32](text []T, t typeSet, p, q int) bool {
	n := len(text)
	for d := 0; ; d++ {
		if p+d == n || q+d == n {
			return false // the sentinel is unique
		}
		if text[p+d] != text[q+d] || t.s(p+d) != t.s(q+d) {
			return false
		}
		if d > 0 {
			lp, lq := t.lms(p+d), t.lms(q+d)
			if lp || lq {
				return lp && lq
			}
		}
	}
}

func bucketStarts(counts, bkt []int32) {
	var sum int32
	for c, n := range counts {
		bkt[c] = sum
		sum += n
	}
}

func bucketEnds(counts, bkt []int32) {
	var sum int32
	for c, n := range counts {
		sum += n
		bkt[c] = sum
	}
}

// induce sorts the L-type suffixes from the S-type ones placed in sa, then
// the S-type suffixes from the L-type ones.
func induce[T byte | int32](text []T, sa []int32, t typeSet, counts, bkt []int32) {
	n := len(text)
	bucketStarts(counts, bkt)
	// The suffix before the sentinel comes first in its bucket.
	c := text[n-1]
	sa[bkt[c]] = int32(n - 1)
	bkt[c]++
	for i := 0; i < n; i++ {
		j := int(sa[i]) - 1
		if j >= 0 && !t.s(j) {
			c := text[j]
			sa[bkt[c]] = int32(j)
			bkt[c]++
		}
	}
	bucketEnds(counts, bkt)
	for i := n - 1; i >= 0; i-- {
		j := int(sa[i]) - 1
		if j >= 0 && t.s(j) {
			c := text[j]
			bkt[c]--
			sa[bkt[c]] = int32(j)
		}
	}
}
