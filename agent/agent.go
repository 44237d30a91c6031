// Package agent is the per-host daemon (the VEM): it reconciles a desired
// configuration into the eBPF datapath, serves the local API vemctl talks
// to, and keeps the datapath's MAC table aged.
package agent

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/portchannel"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vxlan"
)

// DefaultStateDir holds per-instance state that must survive restarts.
const DefaultStateDir = "/var/lib/vem"

// neighbourRefresh is how often remote VTEPs' next hops are re-resolved:
// well inside the kernel's neighbour reachable time.
const neighbourRefresh = 5 * time.Second

// Options configure an Agent.
type Options struct {
	// ConfigFile is the standalone configuration (YAML).
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
	// NoPeerRedirect delivers to veth ports through their host end
	// (bpf_redirect) instead of straight into the peer
	// (bpf_redirect_peer): slower, for comparison and debugging.
	NoPeerRedirect bool
	// SteerVEthFlows enables RPS on veth vEths (see steerVEth): no TCP
	// reordering on the VM's hop, at a throughput cost on small hosts.
	SteerVEthFlows bool
}

// Agent is one running VEM instance.
type Agent struct {
	opts  Options
	log   *zap.Logger
	links Links
	dp    *bpf.Datapath
	rec   *reconciler
	store attachedStore

	// chUpdates carries port-channel states to Run's loop (latest wins).
	chUpdates chan portchannel.State

	mu         sync.Mutex // guards everything below and all datapath writes
	slots      *slots
	identity   *identity
	uplink     *uplinkChannel  // nil unless the uplink is a port-channel
	runCtx     context.Context // Run's context, once running
	cfg        *spec.Switch
	attached   []spec.Port
	plan       *plan
	fileSum    [sha256.Size]byte
	lastReload time.Time
	configErr  string
}

// New validates the configuration, loads (or adopts) the datapath and
// reconciles it. A configuration error leaves any running datapath as it is.
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
	a := &Agent{opts: opts, log: opts.Log, links: opts.Links, slots: newSlots(), chUpdates: make(chan portchannel.State, 1)}

	cfg, sum, err := a.loadFile()
	if err != nil {
		return nil, err
	}
	a.store = attachedStore{path: filepath.Join(opts.StateDir, cfg.Instance, "attached-ports.json")}
	if a.identity, err = loadIdentity(filepath.Join(opts.StateDir, cfg.Instance, "lacp-identity.json")); err != nil {
		return nil, err
	}
	attached, err := a.store.load()
	if err != nil {
		return nil, err
	}
	// Attached ports whose interface went away while the agent was down
	// (a VM that stopped) are dropped rather than failing the start.
	attached = a.presentPorts(attached)
	if err := a.validate(cfg, attached, portNames(attached)...); err != nil {
		return nil, fmt.Errorf("with the ports attached at run time: %w", err)
	}

	dp, err := bpf.Open(cfg.Instance)
	if err != nil {
		return nil, err
	}
	a.dp = dp
	a.rec = &reconciler{dp: dp, log: a.log, linked: map[int]bool{}}
	if opts.SteerVEthFlows {
		a.rec.steer = steerVEth
	}
	existing, err := dp.Ports()
	if err != nil {
		dp.Close()
		return nil, err
	}
	for _, p := range existing {
		a.slots.adopt(p.Ifindex, p.Slot)
	}
	if len(existing) > 0 {
		a.log.Info("adopting pinned datapath", zap.String("pins", dp.PinDir()), zap.Int("ports", len(existing)))
	}
	if err := a.commit(cfg, attached); err != nil {
		dp.Close()
		return nil, err
	}
	a.fileSum = sum
	return a, nil
}

// Config returns the running configuration.
func (a *Agent) Config() *spec.Switch {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// Close releases the agent's handles. The datapath keeps forwarding.
func (a *Agent) Close() error { return a.dp.Close() }

// Run serves the local API and watches the config file and MAC ageing
// until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	ln, err := api.Listen(a.cfg.Socket)
	if err != nil {
		return err
	}
	srv := api.NewServer(a, a.log)
	a.mu.Lock()
	a.runCtx = ctx
	if a.uplink != nil {
		a.startChannel()
	}
	a.mu.Unlock()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	defer func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
		os.Remove(a.cfg.Socket)
	}()
	a.log.Info("agent running", zap.String("host", a.cfg.Host), zap.String("instance", a.cfg.Instance),
		zap.String("socket", a.cfg.Socket))

	poll := time.NewTicker(a.opts.PollInterval)
	defer poll.Stop()
	ageing := time.NewTicker(gcInterval(time.Duration(a.cfg.MACAgeing)))
	defer ageing.Stop()
	neigh := time.NewTicker(neighbourRefresh)
	defer neigh.Stop()
	var linkEvents <-chan LinkEvent // nil, and never ready, without a watcher
	if w, ok := a.links.(linkWatcher); ok {
		if linkEvents, err = w.Watch(ctx); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-serveErr:
			return fmt.Errorf("local API: %w", err)
		case <-poll.C:
			if a.fileChanged() {
				a.log.Info("configuration file changed", zap.String("file", a.opts.ConfigFile))
				a.Reload()
			}
		case <-ageing.C:
			a.ageMACs()
		case <-neigh.C:
			a.keepNeighboursWarm()
		case st := <-a.chUpdates:
			a.applyChannel(st)
		case ev, ok := <-linkEvents:
			if !ok {
				return fmt.Errorf("interface watch ended")
			}
			a.linkChanged(ev)
		}
	}
}

// linkChanged reconciles when a vEth's interface goes away (its VM
// stopped: the port is unbound and waits) or an absent one's returns (it
// is bound again). Other interfaces' events change nothing.
func (a *Agent) linkChanged(ev LinkEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.plan == nil {
		return
	}
	var why string
	if pi, ok := a.plan.ports[ev.Index]; ev.Gone && ok && pi.Kind == bpf.PortVEth {
		why = "interface gone; the port is absent until it returns"
	}
	if !ev.Gone && slices.ContainsFunc(a.plan.absent, func(pi portInfo) bool { return pi.Iface == ev.Name }) {
		why = "interface back; the port is bound again"
	}
	if why == "" {
		return
	}
	a.log.Info(why, zap.String("interface", ev.Name), zap.Int("ifindex", ev.Index))
	if err := a.commitLocked(a.cfg, a.attached); err != nil {
		a.log.Error("apply interface change", zap.String("interface", ev.Name), zap.Error(err))
	}
}

// Reload re-reads the configuration file and reconciles to it. A bad file
// is reported and changes nothing.
func (a *Agent) Reload() error {
	cfg, sum, err := a.loadFile()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fileSum = sum
	if err == nil {
		err = a.checkFixed(cfg)
	}
	if err == nil {
		if verr := a.validate(cfg, a.attached); verr != nil {
			err = fmt.Errorf("with the ports attached at run time: %w", verr)
		}
	}
	if err == nil {
		err = a.commitLocked(cfg, a.attached)
	}
	if err != nil {
		a.configErr = err.Error()
		a.log.Error("configuration rejected; the running configuration stays", zap.Error(err))
		return err
	}
	a.configErr = ""
	a.log.Info("configuration applied", zap.Int("ports", len(a.plan.ports)), zap.Int("segments", len(a.plan.segments)))
	return nil
}

// loadFile reads and validates the file, with the interface checks.
func (a *Agent) loadFile() (*spec.Switch, [sha256.Size]byte, error) {
	data, err := os.ReadFile(a.opts.ConfigFile)
	if err != nil {
		return nil, [sha256.Size]byte{}, fmt.Errorf("read configuration: %w", err)
	}
	sum := sha256.Sum256(data)
	cfg, err := spec.ParseWith(data, spec.ValidateOptions{InterfaceExists: exists(a.links)})
	if err != nil {
		return nil, sum, fmt.Errorf("%s: %w", a.opts.ConfigFile, err)
	}
	return cfg, sum, nil
}

func (a *Agent) fileChanged() bool {
	data, err := os.ReadFile(a.opts.ConfigFile)
	if err != nil {
		return false
	}
	sum := sha256.Sum256(data)
	a.mu.Lock()
	defer a.mu.Unlock()
	return sum != a.fileSum
}

// checkFixed refuses changes that need a restart.
func (a *Agent) checkFixed(cfg *spec.Switch) error {
	if cfg.Instance != a.cfg.Instance {
		return fmt.Errorf("instance changed from %q to %q: restart the agent to change it", a.cfg.Instance, cfg.Instance)
	}
	if cfg.Socket != a.cfg.Socket {
		return fmt.Errorf("socket changed from %q to %q: restart the agent to change it", a.cfg.Socket, cfg.Socket)
	}
	return nil
}

// validate checks the file's ports together with the ones attached at
// run time (which carry no line numbers). Only the interfaces named in
// mustExist have to exist: the file's were checked as it was read, and a
// port whose VM stopped since is absent, not an error.
func (a *Agent) validate(cfg *spec.Switch, attached []spec.Port, mustExist ...string) error {
	if len(attached) == 0 {
		return nil
	}
	all := *cfg
	all.Ports = append(append([]spec.Port(nil), cfg.Ports...), attached...)
	present := exists(a.links)
	return all.Validate(spec.ValidateOptions{InterfaceExists: func(name string) bool {
		return !slices.Contains(mustExist, name) || present(name)
	}})
}

func portNames(ports []spec.Port) []string {
	out := make([]string, len(ports))
	for i, p := range ports {
		out[i] = p.Interface
	}
	return out
}

func (a *Agent) presentPorts(ports []spec.Port) []spec.Port {
	var out []spec.Port
	for _, p := range ports {
		if _, err := a.links.Lookup(p.Interface); err != nil {
			a.log.Warn("forgetting attached port whose interface is gone", zap.String("interface", p.Interface))
			continue
		}
		out = append(out, p)
	}
	return out
}

func (a *Agent) commit(cfg *spec.Switch, attached []spec.Port) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.commitLocked(cfg, attached)
}

// commitLocked plans and applies a validated desired state.
func (a *Agent) commitLocked(cfg *spec.Switch, attached []spec.Port) error {
	vEths := make([]string, 0, len(cfg.Ports)+len(attached))
	for _, port := range append(slices.Clone(cfg.Ports), attached...) {
		vEths = append(vEths, port.Interface)
	}
	if err := a.syncChannel(cfg, vEths); err != nil {
		return err
	}
	var ch *uplinkState
	if a.uplink != nil {
		ch = &a.uplink.view
	}
	p, err := buildPlan(cfg, attached, a.links, a.slots, ch)
	if err != nil {
		return err
	}
	if err := a.rec.apply(p); err != nil {
		return fmt.Errorf("apply to datapath: %w", err)
	}
	a.slots.retain(func(ifindex int) bool { _, ok := p.ports[ifindex]; return ok })
	a.cfg, a.attached, a.plan = cfg, attached, p
	a.lastReload = time.Now()
	if p.settings.VTEP.IsValid() {
		if err := vxlan.EnableForwarding(cfg.UplinkInterfaces()[0]); err != nil {
			return err
		}
		a.syncNextHopsLocked()
		// Resolution is asynchronous: look again shortly.
		time.AfterFunc(200*time.Millisecond, a.keepNeighboursWarm)
	}
	return nil
}

// keepNeighboursWarm refreshes the remote VTEPs' next hops, so they
// neither age out nor miss a changed route or neighbour.
func (a *Agent) keepNeighboursWarm() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.plan != nil && a.plan.settings.VTEP.IsValid() {
		a.syncNextHopsLocked()
	}
}

func (a *Agent) syncNextHopsLocked() {
	p := a.plan
	vxlan.SyncNextHops(a.dp, p.remoteVTEPs(), func(ifindex int) uint16 {
		return p.ports[ifindex].Entry.Slot // 0 (unattributed) off the uplink
	}, func(ifindex int) bool {
		// The member set changes with the port-channel: spreading is
		// decided per frame over the distributing set the map holds.
		_, isPC := a.cfg.PortChannel(a.cfg.Uplink)
		return isPC && ifindex == p.settings.UnderlayIfindex
	}, a.log)
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
	a.mu.Lock()
	ageing := time.Duration(a.cfg.MACAgeing)
	a.mu.Unlock()
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
