package ha

import (
	"slices"
	"time"
)

// Collision is another VSM of this VSM's role and domain, as `show system
// redundancy status` lists it.
type Collision struct {
	// Name identifies the colliding VSM.
	Name string `json:"name"`
	// Path is where its latest heartbeat came.
	Path string `json:"path"`
	// Latest is the time of its latest collision.
	Latest time.Time `json:"latestCollisionTime"`
}

// collisions is the role collision table: at most MaxCollisions entries,
// the oldest overwritten, each dropped expiry after its latest collision.
type collisions struct {
	expiry      time.Duration
	entries     []Collision
	overwritten int
}

// record notes a collision with name at now, reporting whether its entry
// is new (created or overwriting another).
func (c *collisions) record(name string, path Path, now time.Time) (Collision, bool) {
	c.prune(now)
	e := Collision{Name: name, Path: path.String(), Latest: now}
	if i := slices.IndexFunc(c.entries, func(o Collision) bool { return o.Name == name }); i >= 0 {
		c.entries[i] = e
		return e, false
	}
	if len(c.entries) < MaxCollisions {
		c.entries = append(c.entries, e)
		return e, true
	}
	oldest := 0
	for i, o := range c.entries {
		if o.Latest.Before(c.entries[oldest].Latest) {
			oldest = i
		}
	}
	c.entries[oldest] = e
	c.overwritten++
	return e, true
}

// prune drops the entries whose latest collision is expiry or more ago.
func (c *collisions) prune(now time.Time) {
	c.entries = slices.DeleteFunc(c.entries, func(o Collision) bool {
		return now.Sub(o.Latest) >= c.expiry
	})
}

// list returns the live entries, the latest collision first.
func (c *collisions) list(now time.Time) []Collision {
	c.prune(now)
	out := slices.Clone(c.entries)
	slices.SortStableFunc(out, func(a, b Collision) int { return b.Latest.Compare(a.Latest) })
	return out
}
