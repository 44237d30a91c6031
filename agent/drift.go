package agent

import (
	"net"

	"github.com/vem-switch/vem/bpf"
)

// countingDatapath counts the writes a reconcile makes: on a resync, each
// is a repair of drift (an entry deleted or changed behind the agent).
type countingDatapath struct {
	datapath
	writes int
}

func (c *countingDatapath) SetPort(p bpf.Port) error {
	c.writes++
	return c.datapath.SetPort(p)
}

func (c *countingDatapath) DeletePort(ifindex int) error {
	c.writes++
	return c.datapath.DeletePort(ifindex)
}

func (c *countingDatapath) SetSegment(s bpf.Segment) error {
	c.writes++
	return c.datapath.SetSegment(s)
}

func (c *countingDatapath) DeleteSegment(id uint32) error {
	c.writes++
	return c.datapath.DeleteSegment(id)
}

func (c *countingDatapath) SetVLAN(vid uint16, segment uint32) error {
	c.writes++
	return c.datapath.SetVLAN(vid, segment)
}

func (c *countingDatapath) SetVNI(vni, segment uint32) error {
	c.writes++
	return c.datapath.SetVNI(vni, segment)
}

func (c *countingDatapath) DeleteVNI(vni uint32) error {
	c.writes++
	return c.datapath.DeleteVNI(vni)
}

func (c *countingDatapath) SetUplink(u bpf.Uplink) error {
	c.writes++
	return c.datapath.SetUplink(u)
}

func (c *countingDatapath) DeleteUplink() error {
	c.writes++
	return c.datapath.DeleteUplink()
}

func (c *countingDatapath) Attach(ifindex int, kind bpf.PortKind) error {
	c.writes++
	return c.datapath.Attach(ifindex, kind)
}

func (c *countingDatapath) Detach(ifindex int) error {
	c.writes++
	return c.datapath.Detach(ifindex)
}

func (c *countingDatapath) SetStaticMAC(e bpf.MACEntry) error {
	c.writes++
	return c.datapath.SetStaticMAC(e)
}

func (c *countingDatapath) DeleteStaticMAC(segment uint32, mac net.HardwareAddr) error {
	c.writes++
	return c.datapath.DeleteStaticMAC(segment, mac)
}
