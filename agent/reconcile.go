package agent

import (
	"bytes"
	"fmt"
	"net"
	"slices"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/bpf"
)

// datapath is the part of bpf.Datapath the reconciler writes.
type datapath interface {
	Ports() ([]bpf.Port, error)
	SetPort(bpf.Port) error
	DeletePort(ifindex int) error
	Segments() ([]bpf.Segment, error)
	SetSegment(bpf.Segment) error
	DeleteSegment(id uint32) error
	VLANs() (map[uint16]uint32, error)
	SetVLAN(vid uint16, segment uint32) error
	VNIs() (map[uint32]uint32, error)
	SetVNI(vni, segment uint32) error
	DeleteVNI(vni uint32) error
	SetSettings(bpf.Settings) error
	Uplink() (bpf.Uplink, error)
	SetUplink(bpf.Uplink) error
	DeleteUplink() error
	Attach(ifindex int, kind bpf.PortKind) error
	Detach(ifindex int) error
	Attached() ([]int, error)
	DeleteMACs(drop func(bpf.MACEntry) bool) (int, error)
	DeleteMAC(segment uint32, mac net.HardwareAddr) error
	StaticMACs() ([]bpf.MACEntry, error)
	SetStaticMAC(bpf.MACEntry) error
	DeleteStaticMAC(segment uint32, mac net.HardwareAddr) error
	ResetCounters(slot uint16) error
	SetPortAddresses(slot uint16, bindings []bpf.AddressBinding) error
}

// reconciler moves the datapath to a plan, writing only what differs, so
// ports whose configuration did not change are never touched.
type reconciler struct {
	dp  datapath
	log *zap.Logger
	// linked holds the ifindexes whose tcx link already runs this agent's
	// programs; the others get the program swapped in on first sight.
	linked map[int]bool
	// steer, when set, steers a veth vEth's receive queues (RPS).
	steer func(iface string) error
	// rcu expedites RCU grace periods while many links change; nil
	// leaves them alone.
	rcu rcuExpediter
	// vlans mirrors the datapath's VLAN table once read: this agent is its
	// only writer, and reading 4096 entries costs milliseconds on every
	// port-channel change.
	vlans map[uint16]uint32
	// statics mirrors the static MAC table the same way.
	statics map[staticKey]bpf.MACEntry
	// shadowed are static MACs whose learned entries are still to be
	// deleted: they go once the programs are attached, which may take
	// another pass if an attach fails.
	shadowed map[staticKey]bpf.MACEntry
	// bindings mirror the address bindings written per slot; nil until
	// the first apply, which writes every bound port's.
	bindings map[uint16][]bpf.AddressBinding
	// settings were last written by this agent (the map cannot be read
	// back into bpf.Settings); nil until the first write.
	settings *bpf.Settings
}

// apply writes p. Additions and updates go first and removals last, so a
// frame never meets a port whose segment is gone.
func (r *reconciler) apply(p *plan) error {
	curPorts, err := r.dp.Ports()
	if err != nil {
		return err
	}
	cur := make(map[int]bpf.Port, len(curPorts))
	for _, cp := range curPorts {
		cur[cp.Ifindex] = cp
	}
	curSegs, err := r.dp.Segments()
	if err != nil {
		return err
	}
	segs := make(map[uint32]bpf.Segment, len(curSegs))
	for _, s := range curSegs {
		segs[s.ID] = s
	}

	// MACs learned on a port that went down, or moved segment, are stale.
	flush := map[int]bool{}

	// Settings first: a segment's VXLAN frames need the local VTEP.
	if r.settings == nil || *r.settings != p.settings {
		if err := r.dp.SetSettings(p.settings); err != nil {
			return err
		}
		s := p.settings
		r.settings = &s
	}

	// Segments first: a port's entry must never name a missing segment.
	for id, s := range p.segments {
		if old, ok := segs[id]; !ok || !segmentEqual(old, s) {
			if err := r.dp.SetSegment(s); err != nil {
				return err
			}
		}
	}
	// A port's bindings go before the entry that turns them on.
	if r.bindings == nil {
		r.bindings = map[uint16][]bpf.AddressBinding{}
	}
	for slot, want := range p.bindings {
		if have, ok := r.bindings[slot]; !ok || !slices.EqualFunc(have, want, bindingEqual) {
			if err := r.dp.SetPortAddresses(slot, want); err != nil {
				return err
			}
			r.bindings[slot] = want
		}
	}
	for ifindex, pi := range p.ports {
		old, had := cur[ifindex]
		if p.uplinkKeep && pi.Kind == bpf.PortUplink && had {
			pi.Entry.Collecting = old.Collecting
			p.ports[ifindex] = pi
		}
		if !had || old.Slot != pi.Entry.Slot {
			if err := r.dp.ResetCounters(pi.Entry.Slot); err != nil {
				return err
			}
		}
		if !had || !portEqual(old, pi.Entry) {
			if err := r.dp.SetPort(pi.Entry); err != nil {
				return err
			}
			if had && (old.Segment != pi.Entry.Segment || pi.Entry.Down) {
				flush[ifindex] = true
			}
		}
	}
	if err := r.applyStaticMACs(p); err != nil {
		return err
	}
	if err := r.applyVLANs(p); err != nil {
		return err
	}
	if err := r.applyVNIs(p); err != nil {
		return err
	}
	if !p.uplinkKeep {
		if err := r.applyUplink(p); err != nil {
			return err
		}
	}
	// Programs go on last: the first frame a new port sends (a VM's
	// MLD report, say) must find the whole state it needs, the uplink
	// included, or it is dropped as no-uplink.
	if r.rcu != nil && r.linkChanges(p, cur) > bulkLinkChanges {
		defer r.rcu.Expedite()()
	}
	for ifindex, pi := range p.ports {
		if r.linked[ifindex] {
			continue
		}
		if err := r.dp.Attach(ifindex, pi.Kind); err != nil {
			return fmt.Errorf("port %s: %w", pi.Iface, err)
		}
		r.linked[ifindex] = true
		if pi.Kind == bpf.PortVEth && pi.Entry.Peer && r.steer != nil {
			if err := r.steer(pi.Iface); err != nil {
				r.log.Warn("flow steering not set; TCP through this vEth may see reordering", zap.Error(err))
			}
		}
		r.log.Info("port attached", zap.String("interface", pi.Iface), zap.Int("ifindex", ifindex),
			zap.Stringer("kind", pi.Kind), zap.Uint16("slot", pi.Entry.Slot))
	}
	// A MAC learned before it became static (a port that turned secure;
	// an upgrade from programs that learned every MAC, which run until
	// the attach above) is shadowed now: forget it rather than list it
	// twice until it ages.
	for k, e := range r.shadowed {
		if err := r.dp.DeleteMAC(e.Segment, e.MAC); err != nil {
			return err
		}
		delete(r.shadowed, k)
	}

	// Removals.
	for ifindex := range cur {
		if _, keep := p.ports[ifindex]; keep {
			continue
		}
		if err := r.dp.Detach(ifindex); err != nil {
			return err
		}
		if err := r.dp.DeletePort(ifindex); err != nil {
			return err
		}
		delete(r.linked, ifindex)
		flush[ifindex] = true
		r.log.Info("port removed", zap.Int("ifindex", ifindex))
	}
	attached, err := r.dp.Attached()
	if err != nil {
		return err
	}
	for _, ifindex := range attached {
		if _, keep := p.ports[ifindex]; !keep {
			if err := r.dp.Detach(ifindex); err != nil {
				return err
			}
			delete(r.linked, ifindex)
		}
	}
	// Bindings of ports no longer bound, after their entries say so.
	for slot := range r.bindings {
		if _, keep := p.bindings[slot]; !keep {
			if err := r.dp.SetPortAddresses(slot, nil); err != nil {
				return err
			}
			delete(r.bindings, slot)
		}
	}
	goneSegs := map[uint32]bool{}
	for id := range segs {
		if _, keep := p.segments[id]; !keep {
			if err := r.dp.DeleteSegment(id); err != nil {
				return err
			}
			goneSegs[id] = true
		}
	}
	if len(flush) > 0 || len(goneSegs) > 0 {
		n, err := r.dp.DeleteMACs(func(e bpf.MACEntry) bool { return flush[e.Ifindex] || goneSegs[e.Segment] })
		if err != nil {
			return err
		}
		if n > 0 {
			r.log.Info("flushed MACs of removed or changed ports", zap.Int("entries", n))
		}
	}
	return nil
}

// linkChanges counts the tcx links an apply of p attaches or detaches.
func (r *reconciler) linkChanges(p *plan, cur map[int]bpf.Port) int {
	n := 0
	for ifindex := range p.ports {
		if !r.linked[ifindex] {
			n++
		}
	}
	for ifindex := range cur {
		if _, keep := p.ports[ifindex]; !keep {
			n++
		}
	}
	return n
}

// forget drops the mirrors of the VLAN and static MAC tables and what is
// known to be linked, so that the next apply reads the datapath itself:
// a resync then finds and repairs what changed behind the agent's back.
// The settings mirror stays (the map cannot be read back).
func (r *reconciler) forget() {
	r.vlans, r.statics = nil, nil
	r.linked = map[int]bool{}
	if ifindexes, err := r.dp.Attached(); err == nil {
		for _, i := range ifindexes {
			r.linked[i] = true
		}
	}
}

func (r *reconciler) applyVLANs(p *plan) error {
	if r.vlans == nil {
		cur, err := r.dp.VLANs()
		if err != nil {
			return err
		}
		r.vlans = cur
	}
	for vid, seg := range p.vlans {
		if r.vlans[vid] != seg {
			if err := r.dp.SetVLAN(vid, seg); err != nil {
				return err
			}
			r.vlans[vid] = seg
		}
	}
	for vid := range r.vlans {
		if _, keep := p.vlans[vid]; !keep {
			if err := r.dp.SetVLAN(vid, 0); err != nil {
				return err
			}
			delete(r.vlans, vid)
		}
	}
	return nil
}

func (r *reconciler) applyVNIs(p *plan) error {
	cur, err := r.dp.VNIs()
	if err != nil {
		return err
	}
	for vni, seg := range p.vnis {
		if cur[vni] != seg {
			if err := r.dp.SetVNI(vni, seg); err != nil {
				return err
			}
		}
	}
	for vni := range cur {
		if _, keep := p.vnis[vni]; !keep {
			if err := r.dp.DeleteVNI(vni); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyStaticMACs writes the static MAC entries that differ from the
// plan's and removes the ones it no longer has. The learned entries the
// new ones shadow are queued in r.shadowed.
func (r *reconciler) applyStaticMACs(p *plan) error {
	if r.statics == nil {
		cur, err := r.dp.StaticMACs()
		if err != nil {
			return err
		}
		r.statics = make(map[staticKey]bpf.MACEntry, len(cur))
		for _, e := range cur {
			r.statics[staticKeyOf(e)] = e
		}
		r.shadowed = map[staticKey]bpf.MACEntry{}
	}
	for k, e := range p.statics {
		if old, ok := r.statics[k]; !ok || old.Ifindex != e.Ifindex || old.Slot != e.Slot || old.Peer != e.Peer ||
			old.Remote != e.Remote || old.VTEP != e.VTEP {
			if err := r.dp.SetStaticMAC(e); err != nil {
				return err
			}
			r.statics[k] = e
			if !ok {
				r.shadowed[k] = e
			}
		}
	}
	for k, e := range r.statics {
		if _, keep := p.statics[k]; !keep {
			if err := r.dp.DeleteStaticMAC(e.Segment, e.MAC); err != nil {
				return err
			}
			delete(r.statics, k)
			delete(r.shadowed, k)
		}
	}
	return nil
}

func (r *reconciler) applyUplink(p *plan) error {
	cur, err := r.dp.Uplink()
	if err != nil {
		return err
	}
	if p.uplink == nil {
		if len(cur.Members) > 0 {
			return r.dp.DeleteUplink()
		}
		return nil
	}
	if cur.Hash != p.uplink.Hash || !slices.Equal(cur.Members, p.uplink.Members) {
		return r.dp.SetUplink(*p.uplink)
	}
	return nil
}

func portEqual(a, b bpf.Port) bool {
	return a.Ifindex == b.Ifindex && a.Kind == b.Kind && a.Segment == b.Segment && a.Slot == b.Slot &&
		bytes.Equal(a.MAC, b.MAC) && a.Down == b.Down && a.Secure == b.Secure && a.Peer == b.Peer &&
		a.Collecting == b.Collecting && a.NoFloodRx == b.NoFloodRx && a.Pin == b.Pin &&
		a.AllowLinkLocal == b.AllowLinkLocal && a.Trusted == b.Trusted && a.BindAddresses == b.BindAddresses &&
		slices.Equal(a.Addresses, b.Addresses) && a.MaxMACs == b.MaxMACs && a.Storm == b.Storm
}

func bindingEqual(a, b bpf.AddressBinding) bool {
	return a.Prefix == b.Prefix && bytes.Equal(a.MAC, b.MAC)
}

func segmentEqual(a, b bpf.Segment) bool {
	return a.ID == b.ID && a.Type == b.Type && a.VLAN == b.VLAN && a.VNI == b.VNI && a.MTU == b.MTU &&
		slices.Equal(a.Ports, b.Ports) && slices.Equal(a.VTEPs, b.VTEPs)
}
