package spec

import "fmt"

// capacity checks the whole switch against the datapath's limits: what
// validates must fit the tables it is written to.
func (v *validator) capacity() {
	c, lim := v.c, v.lim
	if n := len(c.Segments); n > lim.Segments {
		v.addf("segments", "%d segments, the datapath holds at most %d", n, lim.Segments)
	}
	members := 0
	if pc, ok := c.PortChannel(c.Uplink); ok {
		members = len(pc.Members)
	} else if c.Uplink != "" {
		members = 1
	}
	if n := len(c.Ports) + members; n > lim.Ports {
		v.addf("ports", "%d ports and uplink members, the datapath holds at most %d", n, lim.Ports)
	}
	perSegment := map[string]int{}
	for i, p := range c.Ports {
		if c.PortPolicy(p).AdminDown {
			continue // an admin-down port is in no flood list
		}
		perSegment[p.Segment]++
		if perSegment[p.Segment] == lim.PortsPerSegment+1 {
			v.addf(fmt.Sprintf("ports[%d].segment", i), "segment %s has more than %d admin-up ports, the most one segment floods to",
				p.Segment, lim.PortsPerSegment)
		}
	}
}
