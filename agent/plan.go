package agent

import (
	"fmt"
	"sort"

	"github.com/vem-switch/vem/agent/config"
	"github.com/vem-switch/vem/bpf"
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
	Config config.Port // vEths only
	Entry  bpf.Port
}

// plan is the datapath state a desired configuration asks for.
type plan struct {
	ports    map[int]portInfo // by ifindex
	segments map[uint32]bpf.Segment
	segNames map[uint32]string
	vlans    map[uint16]uint32
	uplink   *bpf.Uplink
}

// buildPlan resolves cfg (with the ports attached at run time) against
// the host's interfaces. Slots are allocated in sl; nothing is written.
func buildPlan(cfg *config.Config, attached []config.Port, links Links, sl *slots) (*plan, error) {
	p := &plan{
		ports:    map[int]portInfo{},
		segments: map[uint32]bpf.Segment{},
		segNames: map[uint32]string{},
		vlans:    map[uint16]uint32{},
	}
	ids := segmentIDs(cfg)
	for _, s := range cfg.Segments {
		id := ids[s.Name]
		seg := bpf.Segment{ID: id, VNI: uint32(s.VNI)}
		switch s.Type {
		case config.SegmentVLAN:
			seg.Type, seg.VLAN = bpf.SegmentVLAN, uint16(s.VLAN)
			p.vlans[uint16(s.VLAN)] = id
		case config.SegmentFlat:
			seg.Type = bpf.SegmentFlat
			p.vlans[0] = id
		case config.SegmentVXLAN:
			// Encapsulation is not in this datapath yet; config
			// validation in the agent refuses vxlan segments.
			seg.Type = bpf.SegmentVXLAN
		default:
			seg.Type = bpf.SegmentLocal
		}
		p.segments[id] = seg
		p.segNames[id] = s.Name
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
		if err != nil {
			return nil, err
		}
		slot, _, err := sl.get(l.Index, bpf.PortVEth)
		if err != nil {
			return nil, err
		}
		mac, err := config.ParseMAC(pi.Config.MAC)
		if err != nil {
			return nil, fmt.Errorf("port %s: %w", pi.Iface, err)
		}
		pol := cfg.PortPolicy(pi.Config)
		segID := ids[pi.Config.Segment]
		pi.Entry = bpf.Port{
			Ifindex: l.Index, Kind: bpf.PortVEth, Segment: segID, Slot: slot, MAC: mac,
			Down: pol.AdminDown, Secure: pol.PortSecurity, Peer: l.PeerInOtherNetns,
		}
		if _, dup := p.ports[l.Index]; dup {
			return nil, fmt.Errorf("interface %s is configured twice", pi.Iface)
		}
		p.ports[l.Index] = pi
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

	if members := cfg.UplinkInterfaces(); len(members) > 0 {
		up := &bpf.Uplink{Hash: bpf.HashSrcDstMAC}
		if pc, ok := cfg.PortChannel(cfg.Uplink); ok {
			up.Hash = hashMode(pc.Hash)
		}
		for _, name := range members {
			l, err := links.Lookup(name)
			if err != nil {
				return nil, err
			}
			slot, _, err := sl.get(l.Index, bpf.PortUplink)
			if err != nil {
				return nil, err
			}
			p.ports[l.Index] = portInfo{
				Iface: name, Kind: bpf.PortUplink, Source: sourceConfig,
				Entry: bpf.Port{Ifindex: l.Index, Kind: bpf.PortUplink, Slot: slot, Collecting: true},
			}
			up.Members = append(up.Members, bpf.Member{Ifindex: l.Index, Slot: slot})
		}
		p.uplink = up
	}
	return p, nil
}

func hashMode(s string) bpf.HashMode {
	switch s {
	case config.HashSrcDstIP:
		return bpf.HashSrcDstIP
	case config.HashSrcDstIPL4Port:
		return bpf.HashSrcDstIPL4Port
	}
	return bpf.HashSrcDstMAC
}
