// Package agent is the per-host daemon (the VEM). Its engine applies a
// desired state (spec) to the eBPF datapath, all or nothing; its sources
// (the configuration file, ports attached at run time) hand the engine
// whole snapshots; its loop retries what failed, resyncs the datapath
// against drift, follows interfaces and port-channels, ages MACs and
// serves the local API vemctl talks to.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/metrics"
	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/headless"
	"github.com/vem-switch/vem/internal/clock"
	"github.com/vem-switch/vem/internal/fsutil"
	"github.com/vem-switch/vem/internal/linkwatch"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vxlan"
)

// DefaultStateDir holds per-instance state that must survive restarts.
const DefaultStateDir = "/var/lib/vem"

// LockDir holds the instance locks (<instance>.lock, with the holder's
// PID).
const LockDir = "/run/vem"

// Loop intervals.
const (
	// neighbourRefresh is how often remote VTEPs' next hops are
	// re-resolved: well inside the kernel's neighbour reachable time.
	neighbourRefresh = 5 * time.Second
	// DefaultResyncInterval is how often the datapath is compared with the
	// applied state and drift repaired.
	DefaultResyncInterval = 5 * time.Second
	// minRetry and maxRetry bound the backoff of a failed apply.
	minRetry = time.Second
	maxRetry = 30 * time.Second
)

// Options configure an Agent.
type Options struct {
	// ConfigFile is the configuration (YAML): standalone, or host facts
	// and a vsm: section in VSM mode.
	ConfigFile string
	// StateDir keeps ports attached at run time; DefaultStateDir if empty.
	StateDir string
	// Log receives structured logs; zap.NewNop if nil.
	Log *zap.Logger
	// Links resolves interface names; netlink if nil.
	Links Links
	// PollInterval is how often the config file is checked for changes;
	// one second if zero.
	PollInterval time.Duration
	// ResyncInterval is how often the datapath is checked for drift;
	// DefaultResyncInterval if zero.
	ResyncInterval time.Duration
	// NoPeerRedirect delivers to veth ports through their host end
	// (bpf_redirect) instead of straight into the peer
	// (bpf_redirect_peer): slower, for comparison and debugging.
	NoPeerRedirect bool
	// SteerVEthFlows enables RPS on veth vEths (see steerVEth): no TCP
	// reordering on the VM's hop, at a throughput cost on small hosts.
	SteerVEthFlows bool
	// Clock drives the agent's loop and the port-channels; the system
	// clock if nil.
	Clock clock.Clock
	// MetricsAddress serves Prometheus metrics on host:port, in place of
	// the file's metrics.address; "" leaves it to the file.
	MetricsAddress string
}

// Agent is one running VEM instance.
type Agent struct {
	opts   Options
	log    *zap.Logger
	links  Links
	dp     *bpf.Datapath
	engine *Engine
	store  attachedStore
	file   fileSource
	cfg0   *spec.Switch // the file as the agent started: instance and socket
	unlock func() error // releases the instance lock
	watch  *linkwatch.Watcher
	// vsm is the VSM mode's state (see dpa.go); nil in standalone mode.
	vsm *vsmMode
	// ovs is the Open vSwitch port source (ovs.go); nil without one.
	ovs *ovsState
	// reconciles records the engine's operations for the metrics.
	reconciles *metrics.Reconciles
	// host hands the agent over to a successor (handover.go); nil when
	// it runs alone (tests).
	host *Host
	// onServing, if set, is called once Run serves the API.
	onServing func()
	// announce announces the MACs of vEths that come up (announce.go).
	announce *announcer

	// mu serialises the sources: composing a desired state and applying
	// it. Views never take it.
	mu       sync.Mutex
	base     *spec.Switch // the file's state, as last applied
	attached []spec.Port
	// pending is a file the engine refused or failed to apply; the loop
	// retries it with backoff until it applies or the file changes.
	pending    *spec.Switch
	pendingErr error
	backoff    time.Duration
	nextRetry  time.Time
	lastReload time.Time
}

// New validates the configuration, loads (or adopts) the datapath and
// applies the configuration. A configuration the engine refuses leaves
// any running datapath as it is.
func New(opts Options) (*Agent, error) {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Links == nil {
		opts.Links = netlinkLinks{noPeer: opts.NoPeerRedirect}
	}
	if opts.StateDir == "" {
		opts.StateDir = DefaultStateDir
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Second
	}
	if opts.ResyncInterval == 0 {
		opts.ResyncInterval = DefaultResyncInterval
	}
	if opts.Clock == nil {
		opts.Clock = clock.System()
	}
	a := &Agent{opts: opts, log: opts.Log, links: opts.Links, file: fileSource{path: opts.ConfigFile},
		reconciles: metrics.NewReconciles()}

	cfg, sum, err := a.file.load()
	if err != nil {
		return nil, err
	}
	a.file.sum = sum
	a.cfg0 = cfg
	// One agent per instance: a second would write the live maps under
	// the first one's mirrors of them.
	if a.unlock, err = fsutil.LockInstance(filepath.Join(LockDir, cfg.Instance+".lock")); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			a.unlock()
		}
	}()
	dir := filepath.Join(opts.StateDir, cfg.Instance)
	a.store = attachedStore{path: filepath.Join(dir, "attached-ports.json")}
	id, err := loadIdentity(filepath.Join(dir, "lacp-identity.json"))
	if err != nil {
		return nil, err
	}
	attached, err := a.store.load()
	if err != nil {
		return nil, err
	}
	segIDs, err := loadSegmentIDs(filepath.Join(dir, "segment-ids.json"))
	if err != nil {
		return nil, err
	}
	lim, err := datapathLimits()
	if err != nil {
		return nil, err
	}

	// One link watcher for everyone: the engine's vEths and the
	// port-channels' members (polled, so a carrier loss is seen at once).
	if a.watch, err = linkwatch.New(linkwatch.Options{Clock: opts.Clock, OnError: func(err error) {
		a.log.Warn("link watch recovered", zap.Error(err))
	}}); err != nil {
		return nil, err
	}
	dp, err := bpf.Open(cfg.Instance)
	if err != nil {
		return nil, err
	}
	a.dp = dp
	if m := dp.Migrated(); len(m) > 0 {
		a.log.Info("migrated pinned maps to this version's layout", zap.Strings("maps", m), zap.Duration("took", dp.MigrateTook()))
	}
	eo := EngineOptions{
		Log: a.log, Datapath: dp, Links: a.links, Limits: lim, Identity: id, LinkWatch: a.watch,
		Now: opts.Clock.Now, Clock: opts.Clock, RCU: sysfsRCU{}, OnReconcile: a.reconciles.Observe,
		SegmentIDs: segIDs,
		PersistSegmentIDs: func(ids map[string]uint32) error {
			return saveSegmentIDs(filepath.Join(dir, "segment-ids.json"), ids)
		},
		NextHops: func(p *plan, spread func(int) bool) {
			vxlan.SyncNextHops(dp, p.remoteVTEPs(), func(ifindex int) uint16 {
				return p.ports[ifindex].Entry.Slot // 0 (unattributed) off the uplink
			}, spread, a.log)
		},
	}
	if opts.SteerVEthFlows {
		eo.Steer = steerVEth
	}
	a.announce = a.newAnnouncer(dp)
	eo.OnWrite = a.announce.written
	a.engine = NewEngine(eo)
	existing, err := dp.Ports()
	if err != nil {
		dp.Close()
		return nil, err
	}
	a.engine.Adopt(existing)
	if len(existing) > 0 {
		a.log.Info("adopting pinned datapath", zap.String("pins", dp.PinDir()), zap.Int("ports", len(existing)))
	}
	var restored *headless.Checkpoint
	if cfg.VSM != nil {
		if a.vsm, restored, err = openVSM(dir); err != nil {
			dp.Close()
			return nil, err
		}
		if restored != nil {
			a.log.Info("starting from the checkpoint", zap.String("file", a.vsm.store.Path()),
				zap.Uint64("generation", restored.Generation), zap.Uint32("module", restored.Module))
		}
	}
	if err := a.openOVS(cfg, dir); err != nil {
		a.closeVSM()
		dp.Close()
		return nil, err
	}
	if err := a.engine.Apply(context.Background(), a.desiredLocked(cfg, attached)); err != nil {
		a.closeVSM()
		dp.Close()
		if restored != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", filepath.Join(dir, checkpointFile), err)
		}
		return nil, err
	}
	if cfg.VSM != nil {
		if err := a.startDPA(cfg, lim, restored); err != nil {
			a.closeVSM()
			dp.Close()
			return nil, err
		}
	}
	a.base, a.attached, a.lastReload = cfg, attached, a.opts.Clock.Now()
	debug.FreeOSMemory() // what the start-up parsed and dumped
	ok = true
	return a, nil
}

// datapathLimits returns the capacities the eBPF objects declare.
func datapathLimits() (spec.Limits, error) {
	c, err := bpf.Capacity()
	if err != nil {
		return spec.Limits{}, err
	}
	return spec.Limits{
		Segments: c.Segments, PortsPerSegment: c.PortsPerSegment,
		VTEPsPerBridgeDomain: c.VTEPsPerBridgeDomain, Members: c.Members, Ports: c.Ports,
	}, nil
}

// Config returns the file's configuration as last applied.
func (a *Agent) Config() *spec.Switch {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.base
}

// Close releases the agent's handles and its instance lock. The datapath
// keeps forwarding.
func (a *Agent) Close() error {
	err := a.dp.Close()
	if cerr := a.closeVSM(); err == nil {
		err = cerr
	}
	if uerr := a.unlock(); err == nil {
		err = uerr
	}
	return err
}

// Run serves the local API and runs the agent's loop until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	ln, err := api.Listen(a.cfg0.Socket)
	if err != nil {
		return err
	}
	srv := api.NewServer(a, a.log)
	a.engine.Start(a.host.channelContext(ctx))
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	metricsErr := make(chan error, 1)
	if err := a.serveMetrics(ctx, metricsErr); err != nil {
		srv.Close()
		return err
	}
	defer func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdown) // the listener removes its socket, if still its own
	}()
	a.log.Info("agent running", zap.String("host", a.cfg0.Host), zap.String("instance", a.cfg0.Instance),
		zap.String("socket", a.cfg0.Socket))
	if a.onServing != nil {
		a.onServing()
	}

	poll := a.opts.Clock.NewTicker(a.opts.PollInterval)
	defer poll.Stop()
	ageing := a.opts.Clock.NewTicker(gcInterval(time.Duration(a.cfg0.MACAgeing)))
	defer ageing.Stop()
	neigh := a.opts.Clock.NewTicker(neighbourRefresh)
	defer neigh.Stop()
	resync := a.opts.Clock.NewTicker(a.opts.ResyncInterval)
	defer resync.Stop()
	retry := a.opts.Clock.NewTicker(250 * time.Millisecond)
	defer retry.Stop()
	watchErr := make(chan error, 1)
	go func() { watchErr <- a.watch.Run(ctx) }()
	defer a.runOVS(ctx)()
	go a.announce.run(ctx)
	dpaErr := make(chan error, 1)
	if a.vsm != nil {
		go func() { dpaErr <- a.vsm.dpa.Run(ctx) }()
	}
	links := a.watch.Subscribe()
	defer links.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-serveErr:
			return fmt.Errorf("local API: %w", err)
		case err := <-metricsErr:
			return err
		case <-poll.C():
			a.pollFile()
		case <-retry.C():
			a.retryDue()
		case <-resync.C():
			a.resync()
		case <-ageing.C():
			a.ageMACs()
		case <-neigh.C():
			a.keepNeighboursWarm()
		case st := <-a.engine.ChannelUpdates():
			if err := a.engine.ChannelChanged(st); err != nil {
				a.log.Error("apply port-channel state", zap.Error(err))
			} else {
				a.log.Info("port-channel members", zap.Strings("distributing", st.Distributing), zap.Strings("collecting", st.Collecting))
			}
		case err := <-watchErr:
			return fmt.Errorf("link watcher: %w", err)
		case err := <-dpaErr:
			if ctx.Err() == nil {
				return fmt.Errorf("DPA: %w", err)
			}
		case <-links.Ready():
			for _, ev := range links.Events() {
				if ev.OldName != "" { // renamed: the old name is gone
					a.linkChanged(ev.OldName, ev.Link.Index, true)
				}
				a.linkChanged(ev.Link.Name, ev.Link.Index, ev.Gone)
			}
		}
	}
}

// linkChanged hands an interface event to the engine and logs what it
// did about it.
func (a *Agent) linkChanged(name string, index int, gone bool) {
	why, err := a.engine.LinkChanged(name, index, gone)
	if why != "" {
		a.log.Info(why, zap.String("interface", name), zap.Int("ifindex", index))
	}
	if err != nil {
		a.log.Error("apply interface change", zap.String("interface", name), zap.Error(err))
	}
}

// pollFile reloads the file when its content changed since it was last
// read (by a poll or a SIGHUP).
func (a *Agent) pollFile() {
	a.mu.Lock()
	changed := a.file.changed()
	a.mu.Unlock()
	if changed {
		a.log.Info("configuration file changed", zap.String("file", a.opts.ConfigFile))
		a.Reload()
	}
}

// Reload re-reads the configuration file and applies it. A file that
// cannot be read or parsed changes nothing; one the engine refuses or
// fails to apply is retried with backoff until it applies or the file
// changes again.
func (a *Agent) Reload() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	cfg, sum, err := a.file.load()
	a.file.sum = sum
	if err == nil {
		err = a.checkFixed(cfg)
	}
	if err != nil {
		// Not retried: the file itself is wrong; the next change is seen.
		a.pending, a.pendingErr = nil, err
		a.log.Error("configuration rejected; the running configuration stays", zap.Error(err))
		return err
	}
	a.pending, a.backoff = cfg, 0
	return a.applyPendingLocked()
}

// applyPendingLocked applies the pending file with the attached ports.
func (a *Agent) applyPendingLocked() error {
	cfg := a.pending
	start := a.opts.Clock.Now()
	err := a.engine.Apply(context.Background(), a.desiredLocked(cfg, a.attached))
	took := a.opts.Clock.Now().Sub(start)
	if err != nil {
		a.pendingErr = err
		a.scheduleRetryLocked()
		a.log.Error("configuration not applied; the running configuration stays, retrying",
			zap.Duration("retryIn", a.backoff), zap.Error(err))
		return err
	}
	a.base, a.pending, a.pendingErr, a.backoff = cfg, nil, nil, 0
	a.lastReload = a.opts.Clock.Now()
	v := a.engine.view()
	a.log.Info("configuration applied", zap.Int("ports", len(v.plan.ports)), zap.Int("segments", len(v.plan.segments)),
		zap.Duration("took", took))
	// Parsing a large file leaves tens of MB of garbage (the YAML node
	// tree, the interface dump): hand it back to the host rather than
	// hold it until the heap next grows.
	debug.FreeOSMemory()
	return nil
}

func (a *Agent) scheduleRetryLocked() {
	a.backoff = min(max(2*a.backoff, minRetry), maxRetry)
	a.nextRetry = a.opts.Clock.Now().Add(a.backoff)
	a.engine.SetNextRetry(a.nextRetry)
}

// retryDue retries a pending file, or the engine's convergence, once its
// backoff has passed.
func (a *Agent) retryDue() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.opts.Clock.Now().Before(a.nextRetry) {
		return
	}
	switch {
	case a.pending != nil:
		a.applyPendingLocked()
	case a.engine.Status().State == EngineRetrying:
		if a.engine.Retry() {
			a.backoff = 0
			a.log.Info("datapath converged")
		} else {
			a.scheduleRetryLocked()
		}
	}
}

// resync repairs drift between the datapath and the applied state.
func (a *Agent) resync() {
	start := a.opts.Clock.Now()
	n, err := a.engine.Resync()
	took := a.opts.Clock.Now().Sub(start)
	if err != nil {
		a.log.Warn("datapath resync", zap.Error(err))
	}
	if n > 0 {
		a.log.Warn("datapath drift repaired", zap.Int("writes", n), zap.Duration("took", took))
	}
}

// checkFixed refuses changes that need a restart.
func (a *Agent) checkFixed(cfg *spec.Switch) error {
	if cfg.Instance != a.cfg0.Instance {
		return fmt.Errorf("instance changed from %q to %q: restart the agent to change it", a.cfg0.Instance, cfg.Instance)
	}
	if cfg.Socket != a.cfg0.Socket {
		return fmt.Errorf("socket changed from %q to %q: restart the agent to change it", a.cfg0.Socket, cfg.Socket)
	}
	if a.opts.MetricsAddress == "" && cfg.MetricsAddress() != a.cfg0.MetricsAddress() {
		return fmt.Errorf("metrics address changed from %q to %q: restart the agent to change it",
			a.cfg0.MetricsAddress(), cfg.MetricsAddress())
	}
	if err := a.checkOVSFixed(cfg); err != nil {
		return err
	}
	if !reflect.DeepEqual(cfg.VSM, a.cfg0.VSM) {
		return errors.New("vsm section changed: restart the agent to change it (or to switch between standalone and VSM mode)")
	}
	return nil
}

// keepNeighboursWarm refreshes the remote VTEPs' next hops, so they
// neither age out nor miss a changed route or neighbour.
func (a *Agent) keepNeighboursWarm() {
	v := a.engine.view()
	if v == nil || !v.plan.settings.VTEP.IsValid() {
		return
	}
	a.engine.mu.Lock()
	defer a.engine.mu.Unlock()
	if a.engine.hops != nil {
		a.engine.hops(v.plan, a.engine.spreadFunc(v.sw, v.plan))
	}
}

// gcInterval is how often aged MACs are deleted from the table.
func gcInterval(ageing time.Duration) time.Duration {
	iv := ageing / 4
	if iv > 10*time.Second {
		iv = 10 * time.Second
	}
	if iv < time.Second {
		iv = time.Second
	}
	return iv
}

// ageMACs deletes entries not seen within the ageing time. The datapath
// already ignores them; this frees their room and keeps views honest.
func (a *Agent) ageMACs() {
	v := a.engine.view()
	if v == nil {
		return
	}
	ageing := time.Duration(v.sw.MACAgeing)
	if ageing <= 0 {
		return
	}
	now := bpf.Now()
	n, err := a.dp.DeleteMACs(func(e bpf.MACEntry) bool { return now-e.Seen > ageing })
	if err != nil {
		a.log.Warn("MAC ageing", zap.Error(err))
		return
	}
	if n > 0 {
		a.log.Debug("aged out MACs", zap.Int("entries", n))
	}
}

// portName is how views name a port.
func portName(pi portInfo) string {
	if pi.Kind == bpf.PortVEth {
		return fmt.Sprintf("Vethernet%d", pi.Entry.Slot)
	}
	return pi.Iface
}

// loadSegmentIDs reads the local segments' IDs a previous agent used.
func loadSegmentIDs(path string) (map[string]uint32, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read segment IDs: %w", err)
	}
	var ids map[string]uint32
	if err := json.Unmarshal(data, &ids); err != nil {
		return nil, fmt.Errorf("parse segment IDs %s: %w", path, err)
	}
	return ids, nil
}

func saveSegmentIDs(path string, ids map[string]uint32) error {
	data, err := json.MarshalIndent(ids, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data)
}
