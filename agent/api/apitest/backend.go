// Package apitest provides an in-memory api.Backend and a helper that
// serves it on a unix socket, for testing API clients such as vemctl and
// the libvirt hook without an agent or a datapath.
package apitest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/spec"
)

// Backend is an api.Backend over fixed tables. Set its fields before
// serving it; Attach and Detach then change Ports under its lock.
type Backend struct {
	mu sync.Mutex

	// StatusInfo is what Status returns.
	StatusInfo api.Status
	// PortList is what Ports returns; Attach appends and Detach removes.
	PortList []api.Port
	// MACs is the MAC table; MACTable filters it by segment.
	MACs []api.MACEntry
	// SegmentList is what Segments returns; MACTable and Attach check
	// segment names against it.
	SegmentList []api.Segment
	// VTEPInfo is what VTEPs returns.
	VTEPInfo api.VTEPs
	// BridgeDomainList is what BridgeDomains returns.
	BridgeDomainList []api.BridgeDomain
	// PortChannelList is what PortChannels returns.
	PortChannelList []api.PortChannel
	// LACPNeighborList is what LACPNeighbors returns.
	LACPNeighborList []api.LACPNeighbor
	// LACPCounterList is what LACPCounters returns.
	LACPCounterList []api.LACPCounters
	// CounterList holds the counters; Counters filters it by port.
	CounterList []api.Counters
	// DPAInfo is what DPA returns.
	DPAInfo api.DPA
	// PortSecurityList holds the vEths' port security; PortSecurity
	// filters it by port name or interface.
	PortSecurityList []api.PortSecurity
	// Attachments records every port Attach added, in order, with the
	// caller that asked for it.
	Attachments []Attachment
	// Err, when set, fails every call with it.
	Err error
}

var _ api.Backend = (*Backend)(nil)

// Attachment is a port that Attach added and who asked for it.
type Attachment struct {
	Port spec.Port
	// Peer is the caller's credentials (api.PeerFrom), nil when unknown.
	Peer *api.Peer
}

// Status returns StatusInfo.
func (b *Backend) Status(context.Context) (api.Status, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.StatusInfo, b.Err
}

// DPA returns DPAInfo.
func (b *Backend) DPA(context.Context) (api.DPA, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.DPAInfo, b.Err
}

// Ports returns a copy of PortList.
func (b *Backend) Ports(context.Context) ([]api.Port, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, b.Err
	}
	return slices.Clone(b.PortList), nil
}

// MACTable returns the MACs of segment, or all of them for "". An unknown
// segment is api.ErrNotFound.
func (b *Backend) MACTable(_ context.Context, segment string) ([]api.MACEntry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, b.Err
	}
	if segment != "" && !b.hasSegment(segment) {
		return nil, fmt.Errorf("unknown segment %s: %w", segment, api.ErrNotFound)
	}
	var out []api.MACEntry
	for _, e := range b.MACs {
		if segment == "" || e.Segment == segment {
			out = append(out, e)
		}
	}
	return out, nil
}

// Segments returns a copy of SegmentList.
func (b *Backend) Segments(context.Context) ([]api.Segment, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, b.Err
	}
	return slices.Clone(b.SegmentList), nil
}

// VTEPs returns a copy of VTEPInfo.
func (b *Backend) VTEPs(context.Context) (api.VTEPs, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return api.VTEPs{}, b.Err
	}
	v := b.VTEPInfo
	v.Remote = slices.Clone(v.Remote)
	return v, nil
}

// BridgeDomains returns a copy of BridgeDomainList.
func (b *Backend) BridgeDomains(context.Context) ([]api.BridgeDomain, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, b.Err
	}
	return slices.Clone(b.BridgeDomainList), nil
}

// PortChannels returns a copy of PortChannelList.
func (b *Backend) PortChannels(context.Context) ([]api.PortChannel, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, b.Err
	}
	return slices.Clone(b.PortChannelList), nil
}

// LACPNeighbors returns a copy of LACPNeighborList.
func (b *Backend) LACPNeighbors(context.Context) ([]api.LACPNeighbor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, b.Err
	}
	return slices.Clone(b.LACPNeighborList), nil
}

// LACPCounters returns a copy of LACPCounterList.
func (b *Backend) LACPCounters(context.Context) ([]api.LACPCounters, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, b.Err
	}
	return slices.Clone(b.LACPCounterList), nil
}

// Counters returns the counters of port (matched against Counters.Port),
// or all of them for "". An unknown port is api.ErrNotFound.
func (b *Backend) Counters(_ context.Context, port string) ([]api.Counters, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, b.Err
	}
	if port == "" {
		return slices.Clone(b.CounterList), nil
	}
	for _, c := range b.CounterList {
		if c.Port == port {
			return []api.Counters{c}, nil
		}
	}
	return nil, fmt.Errorf("unknown port %s: %w", port, api.ErrNotFound)
}

// PortSecurity returns the entry of port (matched against its Name or
// Interface), or all of them for "". An unknown port is api.ErrNotFound.
func (b *Backend) PortSecurity(_ context.Context, port string) ([]api.PortSecurity, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return nil, b.Err
	}
	if port == "" {
		return slices.Clone(b.PortSecurityList), nil
	}
	for _, p := range b.PortSecurityList {
		if p.Name == port || p.Interface == port {
			return []api.PortSecurity{p}, nil
		}
	}
	return nil, fmt.Errorf("unknown port %s: %w", port, api.ErrNotFound)
}

// Attach appends p to PortList as an attached vEth named Vethernet<n>,
// and p and its caller to Attachments. An unknown segment is
// api.ErrNotFound and an interface that already is a port api.ErrConflict.
func (b *Backend) Attach(ctx context.Context, p spec.Port) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return b.Err
	}
	if !b.hasSegment(p.Segment) {
		return fmt.Errorf("unknown segment %s: %w", p.Segment, api.ErrNotFound)
	}
	if b.portIndex(p.Interface) >= 0 {
		return fmt.Errorf("%s is already a port: %w", p.Interface, api.ErrConflict)
	}
	b.PortList = append(b.PortList, api.Port{
		Name:      fmt.Sprintf("Vethernet%d", len(b.PortList)+1),
		Interface: p.Interface,
		Kind:      "veth",
		MAC:       p.MAC,
		Segment:   p.Segment,
		Profile:   p.Profile,
		State:     "up",
		Source:    "attached",
	})
	a := Attachment{Port: p}
	a.Port.IPs = slices.Clone(p.IPs)
	if peer, ok := api.PeerFrom(ctx); ok {
		a.Peer = &peer
	}
	b.Attachments = append(b.Attachments, a)
	return nil
}

// Detach removes the port on iface from PortList; an unknown one is
// api.ErrNotFound.
func (b *Backend) Detach(_ context.Context, iface string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err != nil {
		return b.Err
	}
	i := b.portIndex(iface)
	if i < 0 {
		return fmt.Errorf("no port on interface %s: %w", iface, api.ErrNotFound)
	}
	b.PortList = slices.Delete(b.PortList, i, i+1)
	return nil
}

func (b *Backend) hasSegment(name string) bool {
	return slices.ContainsFunc(b.SegmentList, func(s api.Segment) bool { return s.Name == name })
}

func (b *Backend) portIndex(iface string) int {
	return slices.IndexFunc(b.PortList, func(p api.Port) bool { return p.Interface == iface })
}
