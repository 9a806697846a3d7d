package picture

import (
	"fmt"
	"math/big"
	"sort"
)

// Scale gives each segment of sectors[k] sectors a width in units
// (columns or pixels) so that the widths add up to total: segments whose
// proportional share would be under min get exactly min, the others share
// the rest in proportion to their sectors, rounded by largest remainder (see
// the package comment for the rule and why). It fails when total cannot
// give every segment min units.
func Scale(sectors []uint64, total, min int) ([]int, error) {
	mins := make([]int, len(sectors))
	for k := range mins {
		mins[k] = min
	}
	if min < 0 || total < len(sectors)*min {
		return nil, fmt.Errorf("%d segments need at least %d units, have %d", len(sectors), len(sectors)*min, total)
	}
	return scaleMins(sectors, total, mins)
}

// scaleMins is Scale with a minimum per segment.
func scaleMins(sectors []uint64, total int, mins []int) ([]int, error) {
	n := len(sectors)
	if n == 0 {
		return nil, nil
	}
	need := 0
	for _, m := range mins {
		need += m
	}
	if total < need {
		return nil, fmt.Errorf("%d segments need at least %d units, have %d", n, need, total)
	}
	for _, s := range sectors {
		if s == 0 {
			return nil, fmt.Errorf("a segment has no sectors")
		}
	}
	fixed := make([]bool, n)
	nfixed, fixedUnits := 0, 0
	// Each round fixes every segment whose share is below min. The ratio
	// R/S can only fall from one round to the next (a fixed segment had
	// s < m·S/R), so fixed segments stay below the minimum at the final
	// ratio, and the loop ends after at most n rounds.
	for {
		R, S := remaining(sectors, fixed, fixedUnits, total)
		changed := false
		for k, s := range sectors {
			if fixed[k] {
				continue
			}
			// share = s·R/S < min  ⇔  s·R < min·S (exact, big integers:
			// sectors × columns can exceed 64 bits for huge pixel widths).
			lhs := new(big.Int).Mul(new(big.Int).SetUint64(s), big.NewInt(int64(R)))
			rhs := new(big.Int).Mul(big.NewInt(int64(mins[k])), S)
			if S.Sign() == 0 || lhs.Cmp(rhs) < 0 {
				fixed[k] = true
				nfixed++
				fixedUnits += mins[k]
				changed = true
			}
		}
		if !changed || nfixed == n {
			break
		}
	}
	R, S := remaining(sectors, fixed, fixedUnits, total)
	w := make([]int, n)
	type rem struct {
		k    int
		frac *big.Int
	}
	var rems []rem
	used := 0
	for k, s := range sectors {
		if fixed[k] {
			w[k] = mins[k]
			used += mins[k]
			continue
		}
		num := new(big.Int).Mul(new(big.Int).SetUint64(s), big.NewInt(int64(R)))
		q, r := new(big.Int).QuoRem(num, S, new(big.Int))
		w[k] = int(q.Int64())
		used += w[k]
		rems = append(rems, rem{k, r})
	}
	if nfixed == n {
		// Every segment is at the minimum: give the spare units to the
		// largest segments, so the bar still fills its width.
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return sectors[order[a]] > sectors[order[b]] })
		for i := 0; used < total; i++ {
			w[order[i%n]]++
			used++
		}
		return w, nil
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].frac.Cmp(rems[b].frac) > 0 })
	for i := 0; used < total; i++ {
		w[rems[i%len(rems)].k]++
		used++
	}
	return w, nil
}

// remaining is R (units left after the minimum segments) and S (sectors of
// the others).
func remaining(sectors []uint64, fixed []bool, fixedUnits, total int) (int, *big.Int) {
	S := new(big.Int)
	for k, s := range sectors {
		if !fixed[k] {
			S.Add(S, new(big.Int).SetUint64(s))
		}
	}
	return total - fixedUnits, S
}

// columns maps each boundary of p to a position: pos[i] for bounds[i], with
// pos[0] = 0 and the last = total.
func columns(bounds []uint64, total, min int) ([]int, error) {
	seg := make([]uint64, len(bounds)-1)
	for i := range seg {
		seg[i] = bounds[i+1] - bounds[i]
	}
	w, err := Scale(seg, total, min)
	if err != nil {
		return nil, err
	}
	pos := make([]int, len(bounds))
	for i, x := range w {
		pos[i+1] = pos[i] + x
	}
	return pos, nil
}

// posOf finds a boundary's position.
func posOf(bounds []uint64, pos []int, sector uint64) int {
	i := sort.Search(len(bounds), func(i int) bool { return bounds[i] >= sector })
	if i < len(bounds) && bounds[i] == sector {
		return pos[i]
	}
	// A sector inside a segment (a mark): interpolate within it.
	if i == 0 || i >= len(bounds) {
		return pos[len(pos)-1]
	}
	a, b := bounds[i-1], bounds[i]
	return pos[i-1] + int(float64(pos[i]-pos[i-1])*float64(sector-a)/float64(b-a))
}

func isBoundary(bounds []uint64, sector uint64) bool {
	i := sort.Search(len(bounds), func(i int) bool { return bounds[i] >= sector })
	return i < len(bounds) && bounds[i] == sector
}

// textColumns is columns for the text picture: a segment that is a whole
// region of some row gets min columns (room for its letter between two
// separators); a segment that is only part of regions (the last sector
// after an overrunning filesystem, under a longer tail) needs just one, so
// it does not make the regions it belongs to look longer than they are.
func textColumns(p Picture, bounds []uint64, total, min int) ([]int, error) {
	seg := make([]uint64, len(bounds)-1)
	mins := make([]int, len(seg))
	for i := range seg {
		seg[i] = bounds[i+1] - bounds[i]
		mins[i] = 1
		for _, row := range p.Rows {
			for _, r := range row.Regions {
				if r.Start == bounds[i] && r.End() == bounds[i+1] {
					mins[i] = min
				}
			}
		}
	}
	w, err := scaleMins(seg, total, mins)
	if err != nil {
		return nil, err
	}
	pos := make([]int, len(bounds))
	for i, x := range w {
		pos[i+1] = pos[i] + x
	}
	return pos, nil
}
