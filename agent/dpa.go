package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/dpa"
	"github.com/vem-switch/vem/headless"
	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
)

// VSM mode. A file with a vsm: section holds only host facts; segments,
// profiles and ports come from the VSM through the DPA (package dpa),
// which hands each configuration to the agent (the Applier below) and
// checkpoints what was applied (package headless).
//
//   - At start a checkpoint, if there is one, is applied before anything
//     else, merged with the file's host facts: a restarted agent that
//     reaches no VSM comes back from it, adopting the pinned datapath and
//     flushing nothing. A checkpoint the engine refuses stops the start
//     (delete it to start empty).
//   - A configuration from the VSM is merged with the file's current host
//     facts and applied all or nothing; a refusal is the DPA's NACK.
//   - Remote MACs (MAC distribution) become static entries against their
//     VTEP (Desired.RemoteMACs).
//   - Ports attached at run time (the libvirt hook, vemctl) go to the VSM
//     (DPA.AttachPort, queued while there is none). One whose segment and
//     profile the last configuration already has (DPA.Serves) is also
//     applied at once and kept like a standalone attached port until the
//     VSM's configuration lists it; from then on the VSM's binding is the
//     port (the VSM's configuration wins over a local attach).
//   - A reload of the file re-applies its host facts with the VSM's
//     current configuration. The vsm: section itself, and the mode, need
//     a restart.

// vsmMode is the agent's VSM-mode state; the Agent's mu guards it.
type vsmMode struct {
	dpa   *dpa.DPA
	store *headless.Store
	// network is the VSM's configuration last applied (segments,
	// profiles and ports), nil before any.
	network *spec.Switch
	// remote are the remote MACs last applied.
	remote []headless.RemoteMAC
}

// checkpointFile is the checkpoint store's name in the instance's state
// directory.
const checkpointFile = "checkpoint.db"

// openVSM opens the checkpoint store and loads the checkpoint, if any,
// as the starting network and remote MACs.
func openVSM(dir string) (*vsmMode, *headless.Checkpoint, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("state directory: %w", err)
	}
	store, err := headless.Open(filepath.Join(dir, checkpointFile), headless.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint store: %w", err)
	}
	ck, ok, err := store.Load()
	if err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("checkpoint %s: %w", store.Path(), err)
	}
	v := &vsmMode{store: store}
	if !ok {
		return v, nil, nil
	}
	v.network, v.remote = networkOf(ck.Switch), slices.Clone(ck.RemoteMACs)
	return v, &ck, nil
}

// startDPA makes the DPA that dials the file's VSMs.
func (a *Agent) startDPA(cfg *spec.Switch, lim spec.Limits, restored *headless.Checkpoint) error {
	s := cfg.VSM
	tlsCfg, err := protocol.ClientTLS(protocol.TLSFiles{CA: s.TLS.CA, Cert: s.TLS.Cert, Key: s.TLS.Key},
		protocol.KindVEM, protocol.KindVSM)
	if err != nil {
		return fmt.Errorf("vsm.tls: %w", err)
	}
	log := a.log.Named("dpa")
	d, err := dpa.New(dpa.Config{
		Addresses:     s.Addresses,
		HeadlessAfter: time.Duration(s.HeadlessAfter),
		Dialer: dpa.ProtocolDialer{Config: protocol.ClientConfig{
			Domain: uint32(s.Domain), Host: cfg.HostFacts(),
			Validate: spec.ValidateOptions{Limits: &lim}, TLS: tlsCfg, Logger: log,
		}},
		Applier:     vsmApplier{a},
		Checkpoints: a.vsm.store,
		Restored:    restored,
		Clock:       a.opts.Clock,
		Logger:      log,
	})
	if err != nil {
		return err
	}
	a.vsm.dpa = d
	return nil
}

// closeVSM closes the checkpoint store, if open.
func (a *Agent) closeVSM() error {
	if a.vsm == nil || a.vsm.store == nil {
		return nil
	}
	err := a.vsm.store.Close()
	a.vsm.store = nil
	return err
}

// networkOf is the network part of sw: segments, profiles and ports.
func networkOf(sw *spec.Switch) *spec.Switch {
	if sw == nil {
		return nil
	}
	return &spec.Switch{Segments: sw.Segments, Profiles: sw.Profiles, Ports: sw.Ports}
}

// desiredLocked composes the desired state of file (the file's
// configuration): in standalone mode the file with the attached ports;
// in VSM mode the file's host facts merged with the VSM's network, the
// attached ports the VSM does not list yet and the remote MACs.
func (a *Agent) desiredLocked(file *spec.Switch, attached []spec.Port) Desired {
	if a.vsm == nil {
		ovs, _ := a.ovsPortsLocked(file)
		return Desired{Switch: file, Attached: attached, OVS: ovs}
	}
	network := a.vsm.network
	if network == nil {
		network = &spec.Switch{}
	}
	base := protocol.MergeNetwork(file.HostFacts(), network)
	var local []spec.Port
	for _, p := range attached {
		if !slices.ContainsFunc(base.Ports, func(c spec.Port) bool { return c.Interface == p.Interface }) {
			local = append(local, p)
		}
	}
	ovs, bound := a.ovsPortsLocked(base)
	return Desired{Switch: base, Attached: local, OVS: ovs, OVSBound: bound, RemoteMACs: a.vsm.remote}
}

// vsmApplier is the agent as the DPA's Applier.
type vsmApplier struct{ a *Agent }

var _ dpa.Applier = vsmApplier{}

// Apply applies a configuration of the VSM (merged with the file's host
// facts as they are now), all or nothing: an error leaves the running
// state and is the DPA's NACK.
func (v vsmApplier) Apply(ctx context.Context, sw *spec.Switch) error {
	a := v.a
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.vsm.network
	a.vsm.network = networkOf(sw)
	start := a.opts.Clock.Now()
	if err := a.engine.Apply(ctx, a.desiredLocked(a.base, a.attached)); err != nil {
		a.vsm.network = old
		return err
	}
	a.dropBoundLocked()
	a.log.Info("VSM configuration applied", zap.Int("segments", len(sw.Segments)), zap.Int("ports", len(sw.Ports)),
		zap.Duration("took", a.opts.Clock.Now().Sub(start)))
	return nil
}

// SetRemoteMACs replaces the static remote MACs.
func (v vsmApplier) SetRemoteMACs(ctx context.Context, macs []headless.RemoteMAC) error {
	a := v.a
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.vsm.remote
	a.vsm.remote = slices.Clone(macs)
	if err := a.engine.Apply(ctx, a.desiredLocked(a.base, a.attached)); err != nil {
		a.vsm.remote = old
		return err
	}
	a.log.Info("remote MACs applied", zap.Int("macs", len(macs)))
	return nil
}

// dropBoundLocked forgets the attached ports the VSM's configuration now
// lists: the VSM's binding is the port from then on.
func (a *Agent) dropBoundLocked() {
	kept := slices.DeleteFunc(slices.Clone(a.attached), func(p spec.Port) bool {
		return slices.ContainsFunc(a.vsm.network.Ports, func(c spec.Port) bool { return c.Interface == p.Interface })
	})
	if len(kept) == len(a.attached) {
		return
	}
	if err := a.store.save(kept); err != nil {
		a.log.Warn("save attached ports", zap.Error(err))
		return
	}
	a.attached = kept
}

// attachVSM is Attach in VSM mode: the attach goes to the VSM; a port the
// running configuration serves is applied at once too.
func (a *Agent) attachVSM(ctx context.Context, p spec.Port) error {
	if _, err := a.links.Lookup(p.Interface); err != nil {
		return fmt.Errorf("%w: interface: %w", api.ErrInvalid, err)
	}
	a.mu.Lock()
	bound := a.vsm.network != nil && slices.ContainsFunc(a.vsm.network.Ports, func(c spec.Port) bool {
		return c.Interface == p.Interface
	})
	a.mu.Unlock()
	if bound {
		return nil // the VSM bound it already: a hook may call twice
	}
	if err := a.vsm.dpa.AttachPort(ctx, &protocol.PortAttach{Interface: p.Interface, Mac: p.MAC,
		Segment: p.Segment, Profile: p.Profile, Ips: p.IPs}); err != nil {
		return fmt.Errorf("port %s to the VSM: %w", p.Interface, err)
	}
	if !a.vsm.dpa.Serves(p) {
		// The VSM's configuration brings it; until a VSM answers (while
		// connecting or headless) it waits, in show dpa's queue.
		a.log.Info("port waits for the VSM: its segment or profile is not in the configuration held",
			zap.String("interface", p.Interface), zap.String("segment", p.Segment), zap.String("profile", p.Profile),
			zap.String("dpa", string(a.vsm.dpa.Status().State)))
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, cur := range a.attached {
		if cur.Interface == p.Interface {
			if reflect.DeepEqual(cur, p) {
				return nil
			}
			return fmt.Errorf("port %s is already attached with another configuration; detach it first: %w", p.Interface, api.ErrConflict)
		}
	}
	return a.applyAttachedLocked(ctx, append(slices.Clone(a.attached), p))
}

// detachVSM is Detach in VSM mode: the detach goes to the VSM, and a
// port attached locally is removed at once.
func (a *Agent) detachVSM(ctx context.Context, iface string) error {
	if err := a.vsm.dpa.DetachPort(ctx, &protocol.PortDetach{Interface: iface}); err != nil {
		return fmt.Errorf("port %s to the VSM: %w", iface, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	i := slices.IndexFunc(a.attached, func(p spec.Port) bool { return p.Interface == iface })
	if i < 0 {
		return nil // the VSM's next configuration drops it
	}
	return a.applyAttachedLocked(ctx, slices.Delete(slices.Clone(a.attached), i, i+1))
}

// applyAttachedLocked saves and applies a new set of attached ports; a
// failure keeps the old set.
func (a *Agent) applyAttachedLocked(ctx context.Context, attached []spec.Port) error {
	if err := a.commitAttachedLocked(ctx, attached); err != nil {
		if errors.Is(err, ErrRefused) {
			return fmt.Errorf("%w: %w", api.ErrInvalid, err)
		}
		return err
	}
	return nil
}

// DPA implements api.Backend: `vemctl show dpa`.
func (a *Agent) DPA(context.Context) (api.DPA, error) {
	st := dpa.StandaloneStatus()
	if a.vsm != nil {
		st = a.vsm.dpa.Status()
	}
	return dpaView(st), nil
}

// dpaView is a DPA status as the local API shows it.
func dpaView(st dpa.Status) api.DPA {
	out := api.DPA{
		Mode: st.Mode, State: string(st.State), AttachedVSM: st.AttachedVSM, Epoch: st.Epoch,
		Module: st.Module, Generation: st.Generation, HeadlessSince: st.HeadlessSince,
		VSMs: make([]api.DPAVSM, 0, len(st.VSMs)), QueuedPortEvents: st.QueuedPortEvents,
		Counters: api.DPACounters(st.Counters),
	}
	for _, v := range st.VSMs {
		out.VSMs = append(out.VSMs, api.DPAVSM(v))
	}
	return out
}
