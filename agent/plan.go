package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/portchannel"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vxlan"
)

// Port sources.
const (
	sourceConfig   = "config"
	sourceAttached = "attached"
)

// portInfo is the agent's view of one switch port.
type portInfo struct {
	Iface  string
	Kind   bpf.PortKind
	Source string
	Config spec.Port // vEths only
	Entry  bpf.Port
}

// plan is the datapath state a desired configuration asks for.
type plan struct {
	ports    map[int]portInfo // by ifindex
	segments map[uint32]bpf.Segment
	segNames map[uint32]string
	vlans    map[uint16]uint32
	vnis     map[uint32]uint32
	bds      []vxlan.BridgeDomain
	uplink   *bpf.Uplink
	// uplinkKeep leaves the datapath's member set and the members'
	// collecting flags as they are (the port-channel has not reported).
	uplinkKeep bool
	settings   bpf.Settings
	// statics are the static MAC entries: each port-secured, up vEth's
	// own MAC in its segment.
	statics map[staticKey]bpf.MACEntry
	// absent are the vEths whose interface is gone (their VM stopped):
	// configured, but with nothing in the datapath until it returns.
	absent []portInfo
	// bindings are the address bindings of every vEth with bound
	// addresses, by slot, beyond what its port entry holds (possibly
	// none: then stale ones are cleared).
	bindings map[uint16][]bpf.AddressBinding
}

// staticKey names a static MAC entry as the datapath keys it.
type staticKey struct {
	segment uint32
	mac     [6]byte
}

func staticKeyOf(e bpf.MACEntry) staticKey {
	k := staticKey{segment: e.Segment}
	copy(k.mac[:], e.MAC)
	return k
}

// uplinkState is what a port-channel uplink reported last: which members
// distribute and collect, and where mac-pinning pins each vEth.
type uplinkState struct {
	State portchannel.State
	// Known is false until the port-channel has reported: the datapath
	// then keeps the member set it has (a restarted agent must not stop
	// the uplink while its port-channel starts).
	Known bool
}

// buildPlan resolves cfg (with the ports attached at run time) against
// the host's interfaces. ch is the state of the port-channel the uplink
// names, nil when it names an interface. Slots are allocated in sl;
// nothing is written.
func buildPlan(cfg *spec.Switch, attached []spec.Port, ids map[string]uint32, links Links, sl *slots, ch *uplinkState) (*plan, error) {
	p := &plan{
		ports:    map[int]portInfo{},
		segments: map[uint32]bpf.Segment{},
		segNames: map[uint32]string{},
		vlans:    map[uint16]uint32{},
		vnis:     map[uint32]uint32{},
		settings: bpf.Settings{MACAgeing: time.Duration(cfg.MACAgeing)},
		statics:  map[staticKey]bpf.MACEntry{},
		bindings: map[uint16][]bpf.AddressBinding{},
	}
	var err error
	if p.bds, err = vxlan.BridgeDomains(cfg); err != nil {
		return nil, err
	}
	for _, s := range cfg.Segments {
		id := ids[s.Name]
		seg := bpf.Segment{ID: id, VNI: uint32(s.VNI)}
		switch s.Type {
		case spec.SegmentVLAN:
			seg.Type, seg.VLAN = bpf.SegmentVLAN, uint16(s.VLAN)
			p.vlans[uint16(s.VLAN)] = id
		case spec.SegmentFlat:
			seg.Type = bpf.SegmentFlat
			p.vlans[0] = id
		case spec.SegmentVXLAN:
			seg.Type, seg.MTU = bpf.SegmentVXLAN, uint16(s.MTU)
			p.vnis[uint32(s.VNI)] = id
			for _, bd := range p.bds {
				if bd.Segment == s.Name {
					seg.VTEPs = bd.VTEPs
				}
			}
		default:
			seg.Type = bpf.SegmentLocal
		}
		p.segments[id] = seg
		p.segNames[id] = s.Name
	}

	members, err := p.planUplink(cfg, links, sl, ch)
	if err != nil {
		return nil, err
	}

	vEths := make([]portInfo, 0, len(cfg.Ports)+len(attached))
	for _, cp := range cfg.Ports {
		vEths = append(vEths, portInfo{Iface: cp.Interface, Kind: bpf.PortVEth, Source: sourceConfig, Config: cp})
	}
	for _, cp := range attached {
		vEths = append(vEths, portInfo{Iface: cp.Interface, Kind: bpf.PortVEth, Source: sourceAttached, Config: cp})
	}
	for _, pi := range vEths {
		l, err := links.Lookup(pi.Iface)
		if errors.Is(err, errNoInterface) {
			// The interface existed when the port was accepted (files
			// and attach requests are checked); its VM has stopped since.
			// The port waits, and the rest of the switch goes on.
			p.absent = append(p.absent, pi)
			continue
		}
		if err != nil {
			return nil, err
		}
		slot, _, err := sl.get(l.Index, bpf.PortVEth)
		if err != nil {
			return nil, err
		}
		mac, err := spec.ParseMAC(pi.Config.MAC)
		if err != nil {
			return nil, fmt.Errorf("port %s: %w", pi.Iface, err)
		}
		pol := cfg.PortPolicy(pi.Config)
		segID := ids[pi.Config.Segment]
		pi.Entry = bpf.Port{
			Ifindex: l.Index, Kind: bpf.PortVEth, Segment: segID, Slot: slot, MAC: mac,
			Down: pol.AdminDown, Peer: l.PeerInOtherNetns,
		}
		bindings, pairMACs := portSecurity(&pi.Entry, pi.Config, pol)
		if pi.Entry.BindAddresses {
			p.bindings[slot] = bindings
		}
		if ch != nil && ch.Known {
			pi.Entry.Pin = members[ch.State.Pins[pi.Iface]] // zero unless pinned
		}
		if _, dup := p.ports[l.Index]; dup {
			return nil, fmt.Errorf("interface %s is configured twice", pi.Iface)
		}
		p.ports[l.Index] = pi
		if pi.Entry.Secure && !pi.Entry.Down {
			// Its MAC is known, and the datapath checks every frame's
			// source against it: a static entry, never learned.
			// So are the MACs of its allowed address pairs.
			for _, m := range append([]net.HardwareAddr{mac}, pairMACs...) {
				e := bpf.MACEntry{Segment: segID, MAC: m, Ifindex: l.Index, Slot: slot, Peer: pi.Entry.Peer, Static: true}
				if other, dup := p.statics[staticKeyOf(e)]; dup {
					return nil, fmt.Errorf("port %s: MAC %s is already port %s's in segment %s",
						pi.Iface, m, p.ports[other.Ifindex].Iface, pi.Config.Segment)
				}
				p.statics[staticKeyOf(e)] = e
			}
		}
		if !pi.Entry.Down {
			seg := p.segments[segID]
			if len(seg.Ports) >= bpf.MaxFlood {
				return nil, fmt.Errorf("segment %s: more than %d ports", pi.Config.Segment, bpf.MaxFlood)
			}
			seg.Ports = append(seg.Ports, bpf.FloodPort{Ifindex: l.Index, Slot: slot})
			p.segments[segID] = seg
		}
	}
	// Flood lists in ifindex order: the same configuration always gives
	// the same value, so an unchanged segment is never rewritten.
	for id, seg := range p.segments {
		sort.Slice(seg.Ports, func(i, j int) bool { return seg.Ports[i].Ifindex < seg.Ports[j].Ifindex })
		p.segments[id] = seg
	}

	if err := p.planUnderlay(cfg, links); err != nil {
		return nil, err
	}
	return p, nil
}

// planUnderlay sets up the local VTEP on the uplink (its first member).
func (p *plan) planUnderlay(cfg *spec.Switch, links Links) error {
	if cfg.VTEP == nil {
		return nil
	}
	members := cfg.UplinkInterfaces()
	if len(members) == 0 {
		return fmt.Errorf("vtep %s needs an uplink to reach the underlay", cfg.VTEP.Address)
	}
	l, err := links.Lookup(members[0])
	if err != nil {
		return err
	}
	u, err := vxlan.NewUnderlay(cfg.VTEP, vxlan.Uplink{Name: members[0], Index: l.Index, MTU: l.MTU, Addrs: l.Addrs}, p.bds)
	if err != nil {
		return err
	}
	p.settings.VTEP = u.VTEP
	p.settings.VTEPPort = u.Port
	p.settings.DontFragment = u.DF
	p.settings.AnySourceVTEP = u.AcceptUnlisted
	p.settings.UnderlayIfindex = u.Uplink.Index
	return nil
}

// planUplink plans the uplink members' port entries and the distributing
// set, and returns the members by interface name.
func (p *plan) planUplink(cfg *spec.Switch, links Links, sl *slots, ch *uplinkState) (map[string]bpf.Member, error) {
	names := cfg.UplinkInterfaces()
	if len(names) == 0 {
		return nil, nil
	}
	up := &bpf.Uplink{Hash: bpf.HashSrcDstMAC}
	if pc, ok := cfg.PortChannel(cfg.Uplink); ok {
		up.Hash = hashMode(pc.Hash)
	}
	var collecting []string
	if ch != nil {
		collecting = ch.State.Collecting
	}
	// With mac-pinning the upstream sees separate links and floods to
	// each: only the first collecting member (the designated one)
	// delivers floods, so VMs get one copy.
	designated := ""
	if pc, ok := cfg.PortChannel(cfg.Uplink); ok && pc.Mode == spec.ModeMACPinning && len(collecting) > 0 {
		designated = collecting[0]
	}
	members := make(map[string]bpf.Member, len(names))
	var present []string
	for i, name := range names {
		l, err := links.Lookup(name)
		if errors.Is(err, errNoInterface) && ch != nil && (cfg.VTEP == nil || i > 0) {
			// A missing member is down: the port-channel waits for it,
			// the others carry the traffic.
			continue
		}
		if err != nil {
			return nil, err
		}
		present = append(present, name)
		slot, _, err := sl.get(l.Index, bpf.PortUplink)
		if err != nil {
			return nil, err
		}
		p.ports[l.Index] = portInfo{
			Iface: name, Kind: bpf.PortUplink, Source: sourceConfig,
			// The uplink's own MAC: frames to it belong to the host
			// stack when the host holds the VTEP address.
			Entry: bpf.Port{
				Ifindex: l.Index, Kind: bpf.PortUplink, Slot: slot, MAC: macOf(l.MAC),
				Collecting: ch == nil || slices.Contains(collecting, name),
				NoFloodRx:  designated != "" && name != designated,
			},
		}
		members[name] = bpf.Member{Ifindex: l.Index, Slot: slot}
	}
	switch {
	case ch == nil: // a plain interface: always in use
		for _, name := range present {
			up.Members = append(up.Members, members[name])
		}
	case ch.Known:
		for _, name := range ch.State.Distributing {
			if m, ok := members[name]; ok {
				up.Members = append(up.Members, m)
			}
		}
	default:
		p.uplinkKeep = true
	}
	p.uplink = up
	return members, nil
}

func hashMode(s spec.HashMode) bpf.HashMode {
	switch s {
	case spec.HashSrcDstIP:
		return bpf.HashSrcDstIP
	case spec.HashSrcDstIPL4Port:
		return bpf.HashSrcDstIPL4Port
	}
	return bpf.HashSrcDstMAC
}

// remoteVTEPs lists every remote VTEP of every bridge domain, once each.
func (p *plan) remoteVTEPs() []netip.Addr { return vxlan.RemoteVTEPs(p.bds) }

// macOf returns mac as the datapath stores it: always six bytes.
func macOf(mac net.HardwareAddr) net.HardwareAddr {
	out := make(net.HardwareAddr, 6)
	copy(out, mac)
	return out
}
