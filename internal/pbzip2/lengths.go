package pbzip2

import "slices"

// Code lengths are computed with the package-merge algorithm (Larmore and
// Hirschberg, 1990), which gives the optimal prefix code whose codes are at
// most limit bits long.
//
// Think of each symbol as a coin of face value 2^-l for every l in
// 1..limit, with its frequency as numismatic value. A code is a choice of
// coins whose face values add up to n-1 (Kraft's equality) and whose
// numismatic value is least; a symbol's code length is how many of its
// coins are chosen. The cheapest choice is found level by level, from the
// smallest face value up: the items of a level are the symbols plus the
// items of the level below paired up two by two in order of value
// (packages), and the cheapest 2n-2 items of the top level are taken. A
// package taken at one level means both its halves are taken one level
// further down, so only how many leaves each taken prefix holds matters.

// codeLengths sets lens[i] to the length of the code for symbol i, given
// its frequency freq[i], in an optimal prefix code with codes of at most
// limit bits. Every symbol gets a code, also those of frequency 0. It needs
// 2 <= len(freq) <= 2^limit.
func codeLengths(lens []uint8, freq []int32, limit int) {
	n := len(freq)
	var orderBuf [maxAlpha]uint16
	order := orderBuf[:n] // symbols by increasing frequency
	for i := range order {
		order[i] = uint16(i)
	}
	slices.SortStableFunc(order, func(a, b uint16) int { return int(freq[a]) - int(freq[b]) })

	// leafMark[l] has a bit per item of the level-l list telling whether
	// it is a symbol (1) or a package (0); items are in order of value.
	var leafMark [maxCodeLen + 1][(2*maxAlpha + 63) / 64]uint64
	var cur, next [2 * maxAlpha]int64
	curLen := 0
	for l := limit; l >= 1; l-- {
		// Merge the symbols with the packages of the level below.
		nPack := curLen / 2
		for p := range nPack {
			next[p] = cur[2*p] + cur[2*p+1]
		}
		marks := &leafMark[l]
		*marks = [len(leafMark[0])]uint64{}
		i, p, k := 0, 0, 0
		for i < n || p < nPack {
			if p == nPack || (i < n && int64(freq[order[i]]) <= next[p]) {
				cur[k] = int64(freq[order[i]])
				marks[k/64] |= 1 << (k % 64)
				i++
			} else {
				cur[k] = next[p]
				p++
			}
			k++
		}
		curLen = k
	}

	// Walk back down: at each level a prefix of the list is taken; its
	// symbols get one bit longer and its packages make the prefix taken at
	// the next level.
	clear(lens)
	take := 2*n - 2
	for l := 1; l <= limit && take > 0; l++ {
		leaves := 0
		marks := &leafMark[l]
		for k := range take {
			if marks[k/64]&(1<<(k%64)) != 0 {
				leaves++
			}
		}
		for _, s := range order[:leaves] {
			lens[s]++
		}
		take = 2 * (take - leaves)
	}
}

// canonicalCodes sets the codes that a bzip2 decoder derives from lengths
// alone: codes of one length are consecutive numbers in symbol order, and
// each length's first code follows on from the last code of the length one
// shorter, shifted left by one.
func canonicalCodes(codes []uint32, lens []uint8) {
	var count [maxCodeLen + 2]uint32
	for _, l := range lens {
		count[l]++
	}
	var first [maxCodeLen + 2]uint32
	c := uint32(0)
	for l := 1; l <= maxCodeLen; l++ {
		c = (c + count[l-1]) << 1
		first[l] = c
	}
	for s, l := range lens {
		codes[s] = first[l]
		first[l]++
	}
}
