package protocol

import (
	"errors"
	"testing"
)

// TestVersionNeighbours: a build speaks CurrentVersion (VersionMinor
// unless the link sets another), accepts the minors next to its own both
// ways, and two neighbours speak the lower.
func TestVersionNeighbours(t *testing.T) {
	if v := CurrentVersion(); v.GetMajor() != VersionMajor || v.GetMinor() != VersionMinor {
		t.Fatalf("CurrentVersion %s without a link-time minor", versionString(v))
	}
	for _, tc := range []struct {
		in   string
		want uint32
		ok   bool
	}{{"", VersionMinor, true}, {"1", 1, true}, {"7", 7, true}, {"x", 0, false}, {"-1", 0, false}} {
		got, err := parseMinor(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseMinor(%q) = %d, %v", tc.in, got, err)
		}
	}
	v := func(minor uint32) *Version { return &Version{Major: 1, Minor: minor} }
	for _, tc := range []struct {
		local, peer uint32
		ok          bool
	}{{0, 1, true}, {1, 0, true}, {1, 2, true}, {2, 1, true}, {0, 2, false}, {2, 0, false}, {1, 1, true}} {
		err := compatible(v(tc.local), v(tc.peer))
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrVersion) {
			t.Errorf("1.%d accepting 1.%d: %v", tc.local, tc.peer, err)
		}
		if tc.ok {
			if n := negotiate(v(tc.local), v(tc.peer)); n.GetMinor() != min(tc.local, tc.peer) {
				t.Errorf("1.%d and 1.%d speak %s", tc.local, tc.peer, versionString(n))
			}
		}
	}
}
