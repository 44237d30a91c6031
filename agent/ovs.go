package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"go.uber.org/zap"

	"google.golang.org/protobuf/proto"

	"github.com/vem-switch/vem/agent/ovsport"
	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
)

// The Open vSwitch port source (the file's ovs: section; package
// agent/ovsport). Its ports are a layer of the desired state beside the
// attached ones (Desired.OVS), shown with the source "ovs":
//
//   - The source hands the agent whole snapshots of the interfaces it
//     binds. A snapshot the engine refuses is narrowed to the ports it
//     accepts: those held before, then each new one that checks; the
//     others are refused (logged by the source), so one interface's bad
//     values never hold back the rest.
//   - Segment, profile and addresses come from the interface's
//     external_ids (vem-segment, port-profile or vem-profile, vem-ips),
//     else the section's segment and profile. In standalone mode they
//     name the file's segments and profiles.
//   - In VSM mode every port goes to the VSM as a port attach does (the
//     DPA queues it while no VSM answers): one that names a segment is
//     bound by segment and profile, and also applied at once (orphaned
//     while the VSM's configuration lacks them); one that names none is
//     bound by its iface-id, the ID of a port pre-created on the VSM
//     (Neutron-style), and forwards once the VSM's configuration lists
//     it. A port the VSM's configuration lists is the VSM's binding; it
//     still shows the source ovs and is marked when it forwards. A port
//     that leaves the table is detached from the VSM.
//   - The ports accepted last are kept in the state directory, so a
//     restarted agent serves them from its first apply (no gap in
//     forwarding) until the source resynchronises with ovsdb-server.
//   - The section itself is fixed: changing it needs a restart.

// sourceOVS is the source of the OVS source's ports in views.
const sourceOVS = "ovs"

// ovsPortsFile is the accepted OVS ports' file in the instance's state
// directory.
const ovsPortsFile = "ovs-ports.json"

// ovsState is the agent's side of the OVS source; the Agent's mu guards
// ports.
type ovsState struct {
	src   *ovsport.Source
	path  string
	ports []ovsport.Port // accepted, as last applied
	// toVSM are the attaches last sent to the VSM, by interface; only
	// SetPorts (the source's one goroutine) touches it.
	toVSM map[string]*protocol.PortAttach
}

// openOVS sets up the OVS source of the file's ovs: section, if any, with
// the ports a previous agent accepted.
func (a *Agent) openOVS(cfg *spec.Switch, dir string) error {
	if cfg.OVS == nil {
		return nil
	}
	network, address, err := spec.SplitOVSDatabase(cfg.OVS.Database)
	if err != nil {
		return fmt.Errorf("ovs.database: %w", err)
	}
	st := &ovsState{path: filepath.Join(dir, ovsPortsFile), toVSM: map[string]*protocol.PortAttach{}}
	if st.ports, err = loadOVSPorts(st.path); err != nil {
		return err
	}
	st.src = ovsport.New(ovsport.Config{
		Dialer:   ovsport.NetDialer{Network: network, Address: address},
		Agent:    ovsAgent{a},
		Defaults: ovsport.Defaults{Segment: cfg.OVS.Segment, Profile: cfg.OVS.Profile, ByID: cfg.VSM != nil},
		Log:      a.log.Named("ovs"),
	})
	a.ovs = st
	if len(st.ports) == 0 {
		return nil
	}
	// The kept ports are a cache of the table: if the configuration
	// changed since so that the engine refuses them, the agent starts
	// without them and the source's resync brings what it can.
	attached, err := a.store.load()
	if err != nil {
		return err
	}
	if err := a.engine.Check(a.desiredLocked(cfg, attached)); err != nil {
		a.log.Warn("OVS ports kept from the last run refused; starting without them until ovsdb-server is read",
			zap.Int("ports", len(st.ports)), zap.Error(err))
		st.ports = nil
	}
	return nil
}

// runOVS runs the OVS source, if any, until ctx ends or the returned
// stop is called; stop returns once the source has stopped, so nothing
// applies its ports after Run returns.
func (a *Agent) runOVS(ctx context.Context) (stop func()) {
	if a.ovs == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.ovs.src.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// ovsPortsLocked returns the OVS ports to apply locally, without those
// base binds (the VSM's; their interfaces are bound) and those only the
// VSM can bind (no segment).
func (a *Agent) ovsPortsLocked(base *spec.Switch) (local []spec.Port, bound []string) {
	if a.ovs == nil {
		return nil, nil
	}
	for _, p := range a.ovs.ports {
		switch {
		case a.vsm != nil && slices.ContainsFunc(base.Ports, func(c spec.Port) bool { return c.Interface == p.Interface }):
			bound = append(bound, p.Interface)
		case p.Segment != "":
			local = append(local, p.Spec())
		}
	}
	return local, bound
}

// checkOVSFixed refuses a change of the ovs: section without a restart.
func (a *Agent) checkOVSFixed(cfg *spec.Switch) error {
	if !reflect.DeepEqual(cfg.OVS, a.cfg0.OVS) {
		return errors.New("ovs section changed: restart the agent to change it")
	}
	return nil
}

// ovsAgent is the agent as the OVS source's Agent.
type ovsAgent struct{ a *Agent }

var _ ovsport.Agent = ovsAgent{}

// SetPorts applies a snapshot of the source, narrowed to the ports the
// engine accepts; in VSM mode it then sends the VSM what changed.
func (o ovsAgent) SetPorts(ctx context.Context, ports []ovsport.Port) (map[string]error, error) {
	a := o.a
	refused, err := a.setOVSPorts(ctx, ports)
	if err != nil || a.vsm == nil {
		return refused, err
	}
	return refused, a.sendOVSToVSM(ctx, ports, refused)
}

func (a *Agent) setOVSPorts(ctx context.Context, want []ovsport.Port) (map[string]error, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.ovs.ports
	a.ovs.ports = want
	err := a.engine.Apply(ctx, a.desiredLocked(a.base, a.attached))
	if err == nil {
		a.savedOVSLocked(old)
		return nil, nil
	}
	if !errors.Is(err, ErrRefused) {
		a.ovs.ports = old
		return nil, err
	}
	// Narrow: the ports held before, then each other one that checks.
	same := func(p ovsport.Port) bool {
		return slices.ContainsFunc(old, func(q ovsport.Port) bool { return reflect.DeepEqual(p, q) })
	}
	refused := map[string]error{}
	var kept []ovsport.Port
	for _, p := range want {
		if same(p) {
			kept = append(kept, p)
		}
	}
	for _, p := range want {
		if same(p) {
			continue
		}
		a.ovs.ports = append(slices.Clip(kept), p)
		if err := a.engine.Check(a.desiredLocked(a.base, a.attached)); err != nil {
			refused[p.Interface] = err
			continue
		}
		kept = append(kept, p)
	}
	a.ovs.ports = kept
	if err := a.engine.Apply(ctx, a.desiredLocked(a.base, a.attached)); err != nil {
		a.ovs.ports = old
		return nil, err
	}
	a.savedOVSLocked(old)
	return refused, nil
}

// sendOVSToVSM sends the VSM an attach for every accepted port that is
// new or changed and a detach for every port gone since the last call.
// What failed to be sent is sent again at the next call.
func (a *Agent) sendOVSToVSM(ctx context.Context, ports []ovsport.Port, refused map[string]error) error {
	want := map[string]*protocol.PortAttach{}
	for _, p := range ports {
		if _, bad := refused[p.Interface]; bad {
			continue
		}
		pa := &protocol.PortAttach{Interface: p.Interface, Mac: p.MAC, Vm: strings.ToLower(p.VM),
			Segment: p.Segment, Profile: p.Profile, Ips: p.IPs}
		if p.Segment == "" {
			pa = &protocol.PortAttach{Id: strings.ToLower(p.InterfaceID), Interface: p.Interface, Mac: p.MAC, Vm: strings.ToLower(p.VM)}
		}
		want[p.Interface] = pa
	}
	var errs []error
	for iface := range a.ovs.toVSM {
		if _, keep := want[iface]; keep {
			continue
		}
		if err := a.vsm.dpa.DetachPort(ctx, &protocol.PortDetach{Interface: iface}); err != nil {
			errs = append(errs, fmt.Errorf("detach %s from the VSM: %w", iface, err))
			continue
		}
		delete(a.ovs.toVSM, iface)
		a.log.Info("OVS port detached from the VSM", zap.String("interface", iface))
	}
	for iface, pa := range want {
		if prev, ok := a.ovs.toVSM[iface]; ok && proto.Equal(prev, pa) {
			continue
		}
		if err := a.vsm.dpa.AttachPort(ctx, pa); err != nil {
			errs = append(errs, fmt.Errorf("attach %s to the VSM: %w", iface, err))
			continue
		}
		a.ovs.toVSM[iface] = pa
		a.log.Info("OVS port sent to the VSM", zap.String("interface", iface), zap.String("id", pa.GetId()),
			zap.String("segment", pa.GetSegment()), zap.String("profile", pa.GetProfile()))
	}
	return errors.Join(errs...)
}

// savedOVSLocked saves the accepted ports when they changed from old.
func (a *Agent) savedOVSLocked(old []ovsport.Port) {
	if reflect.DeepEqual(old, a.ovs.ports) {
		return
	}
	if err := saveOVSPorts(a.ovs.path, a.ovs.ports); err != nil {
		a.log.Warn("save OVS ports", zap.Error(err))
	}
	a.log.Info("OVS ports applied", zap.Int("ports", len(a.ovs.ports)))
}

// Forwarding reports the OVS ports that forward: in the datapath and up,
// whoever bound them (a VSM-bound port too).
func (o ovsAgent) Forwarding() map[string]bool {
	fw := map[string]bool{}
	v := o.a.engine.view()
	if v == nil {
		return fw
	}
	o.a.mu.Lock()
	held := map[string]bool{}
	for _, p := range o.a.ovs.ports {
		held[p.Interface] = true
	}
	o.a.mu.Unlock()
	for _, pi := range v.plan.ports {
		if pi.Kind == bpf.PortVEth && held[pi.Iface] && !pi.Entry.Down {
			fw[pi.Iface] = true
		}
	}
	return fw
}

// markSource marks the vEths named in ifaces as coming from source: the
// attached ones, and those of base when bound is set (VSM mode: the
// VSM's binding of a port the source sent).
func (p *plan) markSource(ifaces map[string]bool, bound map[string]bool, source string) {
	if len(ifaces) == 0 && len(bound) == 0 {
		return
	}
	mark := func(pi portInfo) bool {
		return (pi.Source == sourceAttached && ifaces[pi.Iface]) || (pi.Source == sourceConfig && pi.Kind == bpf.PortVEth && bound[pi.Iface])
	}
	for k, pi := range p.ports {
		if mark(pi) {
			pi.Source = source
			p.ports[k] = pi
		}
	}
	for i, pi := range p.absent {
		if mark(pi) {
			p.absent[i].Source = source
		}
	}
}

func loadOVSPorts(path string) ([]ovsport.Port, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read OVS ports: %w", err)
	}
	var ports []ovsport.Port
	if err := json.Unmarshal(data, &ports); err != nil {
		return nil, fmt.Errorf("parse OVS ports %s: %w", path, err)
	}
	return ports, nil
}

func saveOVSPorts(path string, ports []ovsport.Port) error {
	if ports == nil {
		ports = []ovsport.Port{}
	}
	data, err := json.MarshalIndent(ports, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data)
}

// setOf is the set of names, nil for none.
func setOf(names []string) map[string]bool {
	if len(names) == 0 {
		return nil
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
