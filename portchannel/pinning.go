package portchannel

// candidate is a member as the pinning sees it.
type candidate struct {
	name     string
	priority int
	up       bool
}

// pin returns the member of each vEth in mac-pinning mode, given the
// members in configuration order, the vEths in the caller's stable order and
// the previous pins (vEth to member; vEths or members that are gone are
// ignored).
//
// The target members are the operational ones with the best (lowest)
// priority value. A vEth keeps its member while that member is operational
// and, with auto on, a target; otherwise it goes to the least loaded target
// (the first in configuration order on a tie), so a fresh assignment is
// round-robin in vEth order. With auto on the targets are then balanced to
// within one vEth of each other, moving as few vEths as possible: after an
// equal-priority member recovers it gets its share back. The result depends
// only on its inputs, and is a fixed point: pinning again changes nothing.
// A vEth with no operational member is left out.
func pin(members []candidate, vEths []string, prev map[string]string, auto bool) map[string]string {
	best, found := 0, false
	for _, m := range members {
		if m.up && (!found || m.priority < best) {
			best, found = m.priority, true
		}
	}
	pins := make(map[string]string, len(vEths))
	if !found {
		return pins
	}
	byName := make(map[string]candidate, len(members))
	var targets []string
	load := make(map[string]int)
	for _, m := range members {
		byName[m.name] = m
		if m.up && m.priority == best {
			targets = append(targets, m.name)
			load[m.name] = 0
		}
	}

	var displaced []string
	for _, v := range vEths {
		m, ok := byName[prev[v]]
		_, target := load[m.name]
		if ok && m.up && (target || !auto) {
			pins[v] = m.name
			if target {
				load[m.name]++
			}
			continue
		}
		displaced = append(displaced, v)
	}
	for _, v := range displaced {
		m := leastLoaded(targets, load)
		pins[v] = m
		load[m]++
	}
	if !auto {
		return pins
	}
	// Each move narrows the spread, so len(vEths) moves always suffice.
	for range vEths {
		hi, lo := mostLoaded(targets, load), leastLoaded(targets, load)
		if load[hi]-load[lo] <= 1 {
			break
		}
		// Move the vEth pinned to hi that comes last in the caller's
		// order: the earlier ones keep their round-robin places.
		for i := len(vEths) - 1; i >= 0; i-- {
			if pins[vEths[i]] == hi {
				pins[vEths[i]] = lo
				break
			}
		}
		load[hi]--
		load[lo]++
	}
	return pins
}

// leastLoaded returns the first of names with the smallest load.
func leastLoaded(names []string, load map[string]int) string {
	best := names[0]
	for _, n := range names[1:] {
		if load[n] < load[best] {
			best = n
		}
	}
	return best
}

// mostLoaded returns the last of names with the largest load, the mirror
// of leastLoaded, so that balancing undoes what leastLoaded did last.
func mostLoaded(names []string, load map[string]int) string {
	best := names[0]
	for _, n := range names[1:] {
		if load[n] >= load[best] {
			best = n
		}
	}
	return best
}
