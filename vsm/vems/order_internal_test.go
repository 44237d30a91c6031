package vems

import (
	"slices"
	"testing"
)

// TestSessionsInOrderOfComing: every interval's heartbeats go out in the
// order the sessions came (a host's newer session goes last), whatever
// the map holding them does.
func TestSessionsInOrderOfComing(t *testing.T) {
	cases := []struct {
		name  string
		hosts []string // sessions as they come
		want  []string
	}{
		{"in order", []string{"hv3", "hv1", "hv2"}, []string{"hv3", "hv1", "hv2"}},
		{"a host comes again", []string{"hv3", "hv1", "hv2", "hv1"}, []string{"hv3", "hv2", "hv1"}},
		{"many", []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}, []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &Manager{sessions: map[string]*vem{}}
			replaced := 0
			for _, h := range c.hosts {
				m.add(&vem{host: h, cancel: func(error) { replaced++ }})
			}
			for range 5 {
				var got []string
				for _, v := range m.all() {
					got = append(got, v.host)
				}
				if !slices.Equal(got, c.want) {
					t.Fatalf("sessions %v, want %v", got, c.want)
				}
			}
			if want := len(c.hosts) - len(c.want); replaced != want {
				t.Fatalf("%d sessions replaced, want %d", replaced, want)
			}
		})
	}
}
