package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/lacp"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vxlan"
)

// The Agent is the local API's backend.
var _ api.Backend = (*Agent)(nil)

// Status implements api.Backend.
func (a *Agent) Status(context.Context) (api.Status, error) {
	a.mu.Lock()
	last, pendingErr := a.lastReload, a.pendingErr
	a.mu.Unlock()
	mode := "standalone"
	if a.vsm != nil {
		mode = "vsm"
	}
	st := api.Status{
		Host:       a.cfg0.Host,
		Instance:   a.cfg0.Instance,
		Mode:       mode,
		ConfigFile: a.opts.ConfigFile,
		LastReload: last.UTC().Format(time.RFC3339),
	}
	if v := a.engine.view(); v != nil {
		st.Uplink = v.sw.Uplink
	}
	if pendingErr != nil {
		st.ConfigError = pendingErr.Error()
	}
	if a.announce != nil {
		as := a.announce.Stats()
		st.Announcements = &api.AnnounceCounters{Ports: as.Ports, FramesSent: as.Sent, FramesFailed: as.Failed,
			Deferred: as.Deferred, Pending: as.Pending, Expired: as.Expired}
	}
	es := a.engine.Status()
	st.Engine = api.EngineStatus{State: es.State, Attempts: es.Attempts, DriftRepairs: es.DriftRepairs}
	if es.Err != nil {
		st.Engine.Error = es.Err.Error()
	}
	if es.State == EngineRetrying && !es.NextRetry.IsZero() {
		st.Engine.NextRetry = es.NextRetry.UTC().Format(time.RFC3339)
	}
	if !es.LastApplied.IsZero() {
		st.Engine.LastApplied = es.LastApplied.UTC().Format(time.RFC3339)
	}
	if !es.LastResync.IsZero() {
		st.Engine.LastResync = es.LastResync.UTC().Format(time.RFC3339)
	}
	return st, nil
}

// sortedPorts returns the planned ports in slot order: vEths first.
func (v *view) sortedPorts() []portInfo {
	ports := make([]portInfo, 0, len(v.plan.ports))
	for _, pi := range v.plan.ports {
		ports = append(ports, pi)
	}
	sort.Slice(ports, func(i, j int) bool {
		if ports[i].Kind != ports[j].Kind {
			return ports[i].Kind < ports[j].Kind
		}
		return ports[i].Entry.Slot < ports[j].Entry.Slot
	})
	return ports
}

// Ports implements api.Backend.
func (a *Agent) Ports(context.Context) ([]api.Port, error) {
	cur := a.engine.view()
	var out []api.Port
	for _, pi := range cur.sortedPorts() {
		p := api.Port{
			Name: portName(pi), Interface: pi.Iface, Ifindex: pi.Entry.Ifindex,
			Kind: pi.Kind.String(), State: "up", Source: pi.Source,
		}
		if pi.Entry.Down {
			p.State = "down"
		}
		if pi.Kind == bpf.PortVEth {
			p.MAC, p.Segment, p.Profile = pi.Config.MAC, pi.Config.Segment, pi.Config.Profile
		}
		out = append(out, p)
	}
	// Absent vEths last: configured, their interface gone; then orphaned
	// ones: attached, their segment or profile gone.
	for _, pi := range cur.plan.absent {
		out = append(out, api.Port{
			Name: "--", Interface: pi.Iface, Kind: bpf.PortVEth.String(), State: "absent", Source: pi.Source,
			MAC: pi.Config.MAC, Segment: pi.Config.Segment, Profile: pi.Config.Profile,
		})
	}
	for _, o := range cur.orphans {
		out = append(out, api.Port{
			Name: "--", Interface: o.Port.Interface, Kind: bpf.PortVEth.String(), State: "orphaned", Source: o.Source,
			MAC: o.Port.MAC, Segment: o.Port.Segment, Profile: o.Port.Profile,
		})
	}
	return out, nil
}

// MACTable implements api.Backend.
func (a *Agent) MACTable(_ context.Context, segment string) ([]api.MACEntry, error) {
	cur := a.engine.view()
	var want uint32
	if segment != "" {
		if _, ok := cur.sw.Segment(segment); !ok {
			return nil, fmt.Errorf("segment %q: %w", segment, api.ErrNotFound)
		}
		want = cur.segIDs[segment]
	}
	statics, err := a.dp.StaticMACs()
	if err != nil {
		return nil, err
	}
	entries, err := a.dp.MACs()
	if err != nil {
		return nil, err
	}
	entries = append(statics, entries...)
	now := bpf.Now()
	ageing := time.Duration(cur.sw.MACAgeing)
	var out []api.MACEntry
	for _, e := range entries {
		age := now - e.Seen
		if e.Static {
			age = 0
		}
		if (segment != "" && e.Segment != want) || (ageing > 0 && age > ageing) {
			continue
		}
		port := fmt.Sprintf("ifindex %d", e.Ifindex)
		if pi, ok := cur.plan.ports[e.Ifindex]; ok {
			port = pi.Iface
		}
		name := cur.plan.segNames[e.Segment]
		if name == "" {
			name = fmt.Sprintf("segment %d", e.Segment)
		}
		entry := api.MACEntry{
			Segment: name, MAC: e.MAC.String(), Port: port, Remote: e.Remote, Static: e.Static,
			AgeSeconds: max(age, 0).Seconds(),
		}
		if e.VTEP.IsValid() {
			entry.VTEP = e.VTEP.String()
		}
		out = append(out, entry)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Segment != out[j].Segment {
			return out[i].Segment < out[j].Segment
		}
		return out[i].MAC < out[j].MAC
	})
	return out, nil
}

// Segments implements api.Backend.
func (a *Agent) Segments(context.Context) ([]api.Segment, error) {
	cur := a.engine.view()
	ids := cur.segIDs
	var out []api.Segment
	for _, s := range cur.sw.Segments {
		seg := api.Segment{Name: s.Name, Type: string(s.Type), VLAN: s.VLAN, VNI: s.VNI, Ports: []string{}}
		for _, pi := range cur.sortedPorts() {
			if pi.Kind == bpf.PortVEth && pi.Entry.Segment == ids[s.Name] {
				seg.Ports = append(seg.Ports, portName(pi))
			}
		}
		out = append(out, seg)
	}
	return out, nil
}

// Counters implements api.Backend.
func (a *Agent) Counters(_ context.Context, port string) ([]api.Counters, error) {
	cur := a.engine.view()
	var out []api.Counters
	for _, pi := range cur.sortedPorts() {
		name := portName(pi)
		if port != "" && port != name && port != pi.Iface {
			continue
		}
		c, err := a.dp.Counters(pi.Entry.Slot)
		if err != nil {
			return nil, err
		}
		out = append(out, api.Counters{
			Port: name, RxPackets: c.RxPackets, RxBytes: c.RxBytes,
			TxPackets: c.TxPackets, TxBytes: c.TxBytes, Drops: c.Dropped(),
		})
	}
	if port != "" && len(out) == 0 {
		return nil, fmt.Errorf("port %q: %w", port, api.ErrNotFound)
	}
	if port == "" {
		// Slot 0 counts frames on interfaces vem no longer knows.
		if c, err := a.dp.Counters(0); err == nil && len(c.Dropped()) > 0 {
			out = append(out, api.Counters{Port: "unattributed", Drops: c.Dropped()})
		}
	}
	return out, nil
}

// Attach implements api.Backend: it adds a vEth at run time and keeps it
// across agent restarts. The request is checked against the running
// configuration and applied through the engine; a refused one changes
// nothing.
func (a *Agent) Attach(ctx context.Context, p spec.Port) error {
	if mac, err := net.ParseMAC(p.MAC); err == nil {
		p.MAC = mac.String() // canonical form, as the file's ports
	}
	if a.vsm != nil {
		return a.attachVSM(ctx, p)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, cur := range a.attached {
		if cur.Interface == p.Interface {
			if reflect.DeepEqual(cur, p) {
				return nil // idempotent: a hook may call twice
			}
			return fmt.Errorf("port %s is already attached with another configuration; detach it first: %w", p.Interface, api.ErrConflict)
		}
	}
	for _, cur := range a.base.Ports {
		if cur.Interface == p.Interface {
			return fmt.Errorf("port %s is configured in %s: %w", p.Interface, a.opts.ConfigFile, api.ErrConflict)
		}
	}
	// An attach names what exists now: unlike a port already attached,
	// it cannot be orphaned or absent from the start.
	if p.Segment != "" && !hasSegment(a.base, p.Segment) {
		return fmt.Errorf("%w: segment: no segment named %q", api.ErrInvalid, p.Segment)
	}
	if p.Profile != "" && !hasProfile(a.base, p.Profile) {
		return fmt.Errorf("%w: profile: no profile named %q", api.ErrInvalid, p.Profile)
	}
	if _, err := a.links.Lookup(p.Interface); err != nil {
		return fmt.Errorf("%w: interface: %w", api.ErrInvalid, err)
	}
	if err := a.commitAttachedLocked(ctx, append(slices.Clone(a.attached), p)); err != nil {
		if errors.Is(err, ErrRefused) {
			return fmt.Errorf("%w: %w", api.ErrInvalid, err)
		}
		return err
	}
	return nil
}

// Detach implements api.Backend.
func (a *Agent) Detach(ctx context.Context, iface string) error {
	if a.vsm != nil {
		return a.detachVSM(ctx, iface)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, cur := range a.base.Ports {
		if cur.Interface == iface {
			return fmt.Errorf("port %s is configured in %s; remove it there: %w", iface, a.opts.ConfigFile, api.ErrConflict)
		}
	}
	i := slices.IndexFunc(a.attached, func(p spec.Port) bool { return p.Interface == iface })
	if i < 0 {
		return fmt.Errorf("port %s is not attached: %w", iface, api.ErrNotFound)
	}
	return a.commitAttachedLocked(ctx, slices.Delete(slices.Clone(a.attached), i, i+1))
}

// VTEPs implements api.Backend.
func (a *Agent) VTEPs(context.Context) (api.VTEPs, error) {
	cur := a.engine.view()
	out := api.VTEPs{Remote: []api.RemoteVTEP{}}
	if cur.sw.VTEP != nil {
		out.Local, out.Port = cur.sw.VTEP.Address, int(cur.sw.VTEP.Port)
	}
	macs := map[netip.Addr]int{}
	if entries, err := a.dp.MACs(); err == nil {
		for _, e := range entries {
			if e.VTEP.IsValid() {
				macs[e.VTEP]++
			}
		}
	}
	for _, v := range cur.plan.remoteVTEPs() {
		r := api.RemoteVTEP{Address: v.String(), BridgeDomains: []int{}, MACs: macs[v]}
		for _, s := range cur.sw.Segments {
			if slices.Contains(s.VTEPs, v.String()) {
				r.BridgeDomains = append(r.BridgeDomains, s.VNI)
			}
		}
		if nh, err := vxlan.ResolveNextHop(v); err == nil {
			r.NextHop, r.Interface = nh.Addr.String(), nh.Interface
		}
		out.Remote = append(out.Remote, r)
	}
	return out, nil
}

// BridgeDomains implements api.Backend.
func (a *Agent) BridgeDomains(context.Context) ([]api.BridgeDomain, error) {
	cur := a.engine.view()
	ids := cur.segIDs
	out := []api.BridgeDomain{}
	for _, s := range cur.sw.Segments {
		if s.Type != spec.SegmentVXLAN {
			continue
		}
		bd := api.BridgeDomain{
			VNI: s.VNI, Segment: s.Name, Mode: "unicast-only", MTU: s.MTU,
			VTEPs: append([]string{}, s.VTEPs...), Ports: []string{},
		}
		for _, pi := range cur.sortedPorts() {
			if pi.Kind == bpf.PortVEth && pi.Entry.Segment == ids[s.Name] {
				bd.Ports = append(bd.Ports, portName(pi))
			}
		}
		out = append(out, bd)
	}
	return out, nil
}

// PortChannels implements api.Backend.
func (a *Agent) PortChannels(context.Context) ([]api.PortChannel, error) {
	u := a.engine.view().uplink
	out := []api.PortChannel{}
	if u == nil {
		return out, nil
	}
	st := u.ch.Status()
	pc := api.PortChannel{
		Name: st.Name, Mode: string(st.Mode), Up: st.Up, MinLinks: st.MinLinks,
		AutoPriorityFailover: st.AutoPriorityFailover, Members: []api.PortChannelMember{},
	}
	reasons := map[string]string{}
	if st.LACP != nil {
		pc.System, pc.Key = st.LACP.System.String(), int(st.LACP.Key)
		if !st.LACP.Partner.MAC.IsZero() {
			pc.PartnerSystem, pc.PartnerKey = st.LACP.Partner.String(), int(st.LACP.PartnerKey)
		}
		for _, p := range st.LACP.Ports {
			reasons[p.Name] = p.Reason
		}
	}
	for _, m := range st.Members {
		pc.Members = append(pc.Members, api.PortChannelMember{
			Interface: m.Name, Priority: m.Priority, Status: m.Status,
			Reason: reasons[m.Name], Active: m.Active, VEths: m.VEths,
		})
	}
	return append(out, pc), nil
}

// lacpPorts returns the uplink port-channel's LACP view, nil when it runs
// no LACP.
func (a *Agent) lacpPorts() (string, []lacp.PortStatus) {
	u := a.engine.view().uplink
	if u == nil {
		return "", nil
	}
	st := u.ch.Status()
	if st.LACP == nil {
		return st.Name, nil
	}
	return st.Name, st.LACP.Ports
}

// LACPNeighbors implements api.Backend.
func (a *Agent) LACPNeighbors(context.Context) ([]api.LACPNeighbor, error) {
	name, ports := a.lacpPorts()
	out := []api.LACPNeighbor{}
	for _, p := range ports {
		n := api.LACPNeighbor{
			PortChannel: name, Interface: p.Name, State: string(p.State),
			PartnerSystem: p.Partner.System.String(), PartnerKey: int(p.Partner.Key),
			PartnerPort: int(p.Partner.Port.Number), PartnerPortPriority: int(p.Partner.Port.Priority),
			PartnerState: p.Partner.State.String(), ActorState: p.Actor.State.String(),
		}
		if !p.LastPDU.IsZero() {
			n.LastPDU = p.LastPDU.UTC().Format(time.RFC3339Nano)
		}
		out = append(out, n)
	}
	return out, nil
}

// LACPCounters implements api.Backend.
func (a *Agent) LACPCounters(context.Context) ([]api.LACPCounters, error) {
	name, ports := a.lacpPorts()
	out := []api.LACPCounters{}
	for _, p := range ports {
		out = append(out, api.LACPCounters{
			PortChannel: name, Interface: p.Name,
			PDUsRx: p.Counters.PDUsRx, PDUsTx: p.Counters.PDUsTx, MalformedRx: p.Counters.MalformedRx,
			MarkersRx: p.Counters.MarkerRx, MarkersTx: p.Counters.MarkerTx,
		})
	}
	return out, nil
}
