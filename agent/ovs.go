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

	"go.uber.org/zap"

	"github.com/vem-switch/vem/agent/ovsport"
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
//     name the file's segments and profiles; in VSM mode the VSM's (a
//     port whose segment or profile the VSM's configuration lacks is
//     orphaned until it has them, and one the VSM's configuration lists
//     is the VSM's). The ports are not sent to the VSM.
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
	ports []spec.Port // accepted, as last applied
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
	st := &ovsState{path: filepath.Join(dir, ovsPortsFile)}
	if st.ports, err = loadOVSPorts(st.path); err != nil {
		return err
	}
	st.src = ovsport.New(ovsport.Config{
		Dialer:   ovsport.NetDialer{Network: network, Address: address},
		Agent:    ovsAgent{a},
		Defaults: ovsport.Defaults{Segment: cfg.OVS.Segment, Profile: cfg.OVS.Profile},
		Log:      a.log.Named("ovs"),
	})
	a.ovs = st
	return nil
}

// runOVS runs the OVS source, if any, until ctx ends.
func (a *Agent) runOVS(ctx context.Context) {
	if a.ovs != nil {
		go a.ovs.src.Run(ctx)
	}
}

// ovsPortsLocked returns the OVS ports to apply.
func (a *Agent) ovsPortsLocked() []spec.Port {
	if a.ovs == nil {
		return nil
	}
	return a.ovs.ports
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
// engine accepts.
func (o ovsAgent) SetPorts(ctx context.Context, ports []ovsport.Port) (map[string]error, error) {
	a := o.a
	a.mu.Lock()
	defer a.mu.Unlock()
	want := make([]spec.Port, len(ports))
	for i, p := range ports {
		want[i] = p.Spec()
	}
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
	same := func(p spec.Port) bool {
		return slices.ContainsFunc(old, func(q spec.Port) bool { return reflect.DeepEqual(p, q) })
	}
	refused := map[string]error{}
	var kept []spec.Port
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

// savedOVSLocked saves the accepted ports when they changed from old.
func (a *Agent) savedOVSLocked(old []spec.Port) {
	if reflect.DeepEqual(old, a.ovs.ports) {
		return
	}
	if err := saveOVSPorts(a.ovs.path, a.ovs.ports); err != nil {
		a.log.Warn("save OVS ports", zap.Error(err))
	}
	a.log.Info("OVS ports applied", zap.Int("ports", len(a.ovs.ports)))
}

// Forwarding reports the OVS ports that forward: in the datapath and up.
func (o ovsAgent) Forwarding() map[string]bool {
	fw := map[string]bool{}
	v := o.a.engine.view()
	if v == nil {
		return fw
	}
	for _, pi := range v.plan.ports {
		if pi.Source == sourceOVS && !pi.Entry.Down {
			fw[pi.Iface] = true
		}
	}
	return fw
}

// markSource marks the attached vEths named in ifaces as coming from
// source.
func (p *plan) markSource(ifaces map[string]bool, source string) {
	if len(ifaces) == 0 {
		return
	}
	for k, pi := range p.ports {
		if pi.Source == sourceAttached && ifaces[pi.Iface] {
			pi.Source = source
			p.ports[k] = pi
		}
	}
	for i, pi := range p.absent {
		if pi.Source == sourceAttached && ifaces[pi.Iface] {
			p.absent[i].Source = source
		}
	}
}

func loadOVSPorts(path string) ([]spec.Port, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read OVS ports: %w", err)
	}
	var ports []spec.Port
	if err := json.Unmarshal(data, &ports); err != nil {
		return nil, fmt.Errorf("parse OVS ports %s: %w", path, err)
	}
	return ports, nil
}

func saveOVSPorts(path string, ports []spec.Port) error {
	if ports == nil {
		ports = []spec.Port{}
	}
	data, err := json.MarshalIndent(ports, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data)
}
