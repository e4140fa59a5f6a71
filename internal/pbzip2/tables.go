package pbzip2

import (
	"bytes"
	"slices"
)

// The entropy stage. The bzip2 format codes the symbols of a block with 2
// to 6 prefix codes ("tables") of code lengths 1 to 20. The symbols are cut
// into groups of 50, and a selector per group names the table that codes
// it. The encoder is free to choose the tables and the selectors; it does
// so by clustering: the groups are first split by how well the block's
// overall code suits them, then a few rounds each build a table from the
// groups it was given and give every group the table that codes it in the
// fewest bits.

const (
	maxAlpha   = 258 // RUNA, RUNB, MTF positions 1..255, end of block
	minTables  = 2   // the format's bounds on the number of tables
	maxTables  = 6
	groupSize  = 50
	maxCodeLen = 17 // kept below the format's 20 for old decoders
	rounds     = 4
	// manyGroups is the number of groups from which a block simply uses
	// maxTables tables; smaller blocks try every count.
	manyGroups = 240
)

// chooseTables sets e.lens and e.selectors for syms, whose symbols are
// below alphaSize, and returns the number of tables.
func (e *encoder) chooseTables(syms []uint16, alphaSize int) int {
	nGroups := (len(syms) + groupSize - 1) / groupSize
	if cap(e.selectors) < nGroups {
		e.selectors = make([]uint8, nGroups)
	}
	if cap(e.trial) < nGroups {
		e.trial = make([]uint8, nGroups)
	}
	e.selectors = e.selectors[:nGroups]
	if nGroups >= manyGroups {
		nt, _ := e.cluster(e.selectors, &e.lens, syms, alphaSize, maxTables)
		return nt
	}
	best, bestBits := 0, 0
	var lens [maxTables][maxAlpha]uint8
	for k := minTables; k <= maxTables; k++ {
		sel := e.trial[:nGroups]
		nt, bits := e.cluster(sel, &lens, syms, alphaSize, k)
		if best == 0 || bits < bestBits {
			best, bestBits = nt, bits
			copy(e.selectors, sel)
			e.lens = lens
		}
	}
	return best
}

// cluster chooses k tables for syms, writing the table of each group to
// sel and the code lengths to lens. It returns the number of tables in use
// (unused ones are dropped, down to minTables) and the size in bits of the
// tables, the selectors and the coded symbols.
func (e *encoder) cluster(sel []uint8, lens *[maxTables][maxAlpha]uint8, syms []uint16, alphaSize, k int) (int, int) {
	nGroups := len(sel)
	group := func(g int) []uint16 { return syms[g*groupSize : min((g+1)*groupSize, len(syms))] }

	// Start: rank the groups by their cost under one code for the whole
	// block (cheap groups hold mostly runs and small MTF positions, dear
	// ones are close to random), and give each table an equal share of
	// the ranking.
	var freq [maxTables][maxAlpha]int32
	for _, s := range syms {
		freq[0][s]++
	}
	var whole [maxAlpha]uint8
	codeLengths(whole[:alphaSize], freq[0][:alphaSize], maxCodeLen)
	type ranked struct {
		cost  int32
		group int32
	}
	rank := make([]ranked, nGroups)
	for g := range nGroups {
		c := int32(0)
		for _, s := range group(g) {
			c += int32(whole[s])
		}
		rank[g] = ranked{c, int32(g)}
	}
	slices.SortStableFunc(rank, func(a, b ranked) int { return int(a.cost - b.cost) })
	for i, r := range rank {
		sel[r.group] = uint8(i * k / nGroups)
	}

	for round := 0; ; round++ {
		// Build each table from the groups it codes.
		for t := range k {
			clear(freq[t][:alphaSize])
		}
		for g := range nGroups {
			f := &freq[sel[g]]
			for _, s := range group(g) {
				f[s]++
			}
		}
		for t := range k {
			codeLengths(lens[t][:alphaSize], freq[t][:alphaSize], maxCodeLen)
		}
		if round == rounds {
			break
		}
		// Give each group its cheapest table. The lengths of a symbol in
		// tables 0-2 and 3-5 are packed 21 bits apart into two words, so
		// one sum per word costs a group in three tables at once (a group
		// costs at most 50×17 bits, well within 21 bits).
		var packed [maxAlpha][2]uint64
		for t := range k {
			for s := range alphaSize {
				packed[s][t/3] |= uint64(lens[t][s]) << (21 * (t % 3))
			}
		}
		changed := false
		for g := range nGroups {
			var lo, hi uint64
			for _, s := range group(g) {
				lo += packed[s][0]
				hi += packed[s][1]
			}
			best, bestCost := 0, uint64(1<<21)
			for t := range k {
				w := lo
				if t >= 3 {
					w = hi
				}
				if c := w >> (21 * (t % 3)) & (1<<21 - 1); c < bestCost {
					best, bestCost = t, c
				}
			}
			if uint8(best) != sel[g] {
				sel[g], changed = uint8(best), true
			}
		}
		if !changed {
			break
		}
	}

	// Drop the tables no group uses.
	var used [maxTables]bool
	for _, t := range sel {
		used[t] = true
	}
	var renum [maxTables]uint8
	nt := 0
	for t := range k {
		if used[t] || k-t <= minTables-nt {
			renum[t] = uint8(nt)
			lens[nt] = lens[t]
			nt++
		}
	}
	for g := range sel {
		sel[g] = renum[sel[g]]
	}

	bits := 3 + 15 + selectorBits(sel, nt)
	for t := range nt {
		bits += lengthBits(lens[t][:alphaSize])
	}
	for g := range nGroups {
		l := &lens[sel[g]]
		for _, s := range group(g) {
			bits += int(l[s])
		}
	}
	return nt, bits
}

// selectorBits returns the size of the selectors as written: each is its
// position in a move-to-front list of the tables, in unary.
func selectorBits(sel []uint8, nt int) int {
	order := [maxTables]uint8{0, 1, 2, 3, 4, 5}
	bits := 0
	for _, t := range sel {
		j := bytes.IndexByte(order[:nt], t)
		bits += j + 1
		copy(order[1:j+1], order[:j])
		order[0] = t
	}
	return bits
}

// lengthBits returns the size of a table's code lengths as written: the
// first in 5 bits, then for each symbol a 2-bit step up or down per unit
// of change from the length before, and a 0 bit.
func lengthBits(lens []uint8) int {
	bits, prev := 5, int(lens[0])
	for _, l := range lens {
		d := int(l) - prev
		bits += 1 + 2*max(d, -d)
		prev = int(l)
	}
	return bits
}
