package portchannel

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
)

// TestPinInvariants pins vEths through random carrier, priority and vEth
// changes and checks what must always hold.
func TestPinInvariants(t *testing.T) {
	for _, auto := range []bool{true, false} {
		t.Run(fmt.Sprintf("auto=%v", auto), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			members := make([]candidate, 4)
			for i := range members {
				members[i] = candidate{name: fmt.Sprintf("m%d", i), priority: rng.IntN(3)}
			}
			var vEths []string
			pins := map[string]string{}
			for round := range 2000 {
				switch rng.IntN(3) {
				case 0:
					m := &members[rng.IntN(len(members))]
					m.up = !m.up
				case 1:
					members[rng.IntN(len(members))].priority = rng.IntN(3)
				case 2:
					vEths = vEths[:0]
					for i := range 8 {
						if rng.IntN(3) > 0 {
							vEths = append(vEths, fmt.Sprintf("v%d", i))
						}
					}
				}
				prev := pins
				pins = pin(members, vEths, prev, auto)
				checkPins(t, round, members, vEths, prev, pins, auto)
				if again := pin(members, vEths, pins, auto); !maps.Equal(again, pins) {
					t.Fatalf("round %d: not a fixed point: %v, then %v", round, pins, again)
				}
			}
		})
	}
}

func checkPins(t *testing.T, round int, members []candidate, vEths []string, prev, pins map[string]string, auto bool) {
	t.Helper()
	byName := map[string]candidate{}
	best, anyUp := 1<<30, false
	for _, m := range members {
		byName[m.name] = m
		if m.up {
			anyUp = true
			best = min(best, m.priority)
		}
	}
	load := map[string]int{}
	for _, m := range members {
		if m.up && m.priority == best {
			load[m.name] = 0
		}
	}
	if len(pins) != len(vEths) && anyUp || len(pins) != 0 && !anyUp {
		t.Fatalf("round %d: %d pins for %d vEths (a member up: %v)", round, len(pins), len(vEths), anyUp)
	}
	for _, v := range vEths {
		m, ok := byName[pins[v]]
		if !anyUp {
			continue
		}
		if !ok || !m.up {
			t.Fatalf("round %d: %s pinned to %q, not operational", round, v, pins[v])
		}
		if auto && m.priority != best {
			t.Fatalf("round %d: %s on %s (priority %d), best is %d", round, v, m.name, m.priority, best)
		}
		if old, ok := byName[prev[v]]; !auto && ok && old.up && pins[v] != old.name {
			t.Fatalf("round %d: %s moved from operational %s to %s without auto", round, v, old.name, pins[v])
		}
		if _, target := load[m.name]; target {
			load[m.name]++
		}
	}
	if !auto {
		return
	}
	lo, hi := 1<<30, -1
	for _, n := range load {
		lo, hi = min(lo, n), max(hi, n)
	}
	if hi-lo > 1 {
		t.Fatalf("round %d: unbalanced loads %v", round, load)
	}
}
