package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/lacp"
	"github.com/vem-switch/vem/portchannel"
	"github.com/vem-switch/vem/spec"
)

// uplinkChannel is the running port-channel the uplink names.
type uplinkChannel struct {
	ch     *portchannel.Channel
	cfg    portchannel.Config // as last applied, callbacks aside
	cancel context.CancelFunc // stops Run; nil until started
	view   uplinkState
}

// syncChannel makes the uplink's port-channel match cfg: created,
// reconfigured in place, recreated, or stopped. Called with a.mu held.
func (a *Agent) syncChannel(cfg *spec.Switch, vEths []string) error {
	pc, ok := cfg.PortChannel(cfg.Uplink)
	if !ok {
		a.stopChannel()
		return nil
	}
	want, err := a.channelConfig(pc)
	if err != nil {
		return err
	}
	if u := a.uplink; u != nil && sameChannel(u.cfg, want) {
		u.ch.SetVEths(vEths)
		return nil
	}
	if u := a.uplink; u != nil && u.cfg.Name == want.Name {
		err := u.ch.Reconfigure(want)
		if err == nil {
			u.cfg = want
			u.ch.SetVEths(vEths)
			return nil
		}
		if !errors.Is(err, portchannel.ErrRecreate) {
			return err
		}
	}
	created := want
	if cp, err := a.loadCheckpoint(want.Name); err != nil {
		a.log.Warn("LACP checkpoint unreadable; negotiating afresh", zap.Error(err))
	} else {
		created.Resume = cp
	}
	ch, err := portchannel.New(created)
	if err != nil {
		return err
	}
	a.stopChannel()
	// Until the new channel reports, the datapath keeps the members it
	// has: a restarted agent does not stop the uplink while LACP starts.
	a.uplink = &uplinkChannel{ch: ch, cfg: want}
	ch.SetVEths(vEths)
	a.log.Info("port-channel started", zap.String("name", want.Name), zap.String("mode", string(want.Mode)))
	if a.runCtx != nil {
		a.startChannel()
	}
	return nil
}

// startChannel runs the uplink's port-channel until the agent stops.
func (a *Agent) startChannel() {
	u := a.uplink
	ctx, cancel := context.WithCancel(a.runCtx)
	u.cancel = cancel
	go func() {
		if err := u.ch.Run(ctx); err != nil {
			a.log.Error("port-channel stopped", zap.String("name", u.cfg.Name), zap.Error(err))
		}
	}()
}

func (a *Agent) stopChannel() {
	if a.uplink != nil && a.uplink.cancel != nil {
		a.uplink.cancel()
	}
	a.uplink = nil
}

// channelConfig is the portchannel configuration of pc, with this host's
// persisted LACP identity.
func (a *Agent) channelConfig(pc *spec.PortChannel) (portchannel.Config, error) {
	names := make([]string, len(pc.Members))
	for i, m := range pc.Members {
		names[i] = m.Interface
	}
	if err := a.identity.ensure(pc.Name, names); err != nil {
		return portchannel.Config{}, err
	}
	lacpMode := pc.Mode == spec.ModeLACPActive || pc.Mode == spec.ModeLACPPassive
	c := portchannel.Config{
		Name: pc.Name, Mode: pc.Mode, Rate: pc.Rate, MinLinks: pc.MinLinks,
		AutoPriorityFailover: pc.AutoFailback(),
		OnChange:             a.channelChanged,
		OnEvent:              a.channelEvent,
		Logger:               a.log,
	}
	if lacpMode {
		c.OnCheckpoint = func(cp lacp.Checkpoint) { a.saveCheckpoint(pc.Name, cp) }
	}
	for _, m := range pc.Members {
		prio := m.Priority
		if lacpMode && prio == 0 {
			prio = lacp.DefaultPortPriority // unset: 802.1AX's default
		}
		c.Members = append(c.Members, portchannel.Member{Name: m.Interface, Priority: prio})
	}
	if lacpMode {
		c.System = lacp.SystemID{Priority: lacp.DefaultSystemPriority, MAC: a.identity.SystemMAC}
		c.Key = a.identity.Keys[pc.Name]
		c.PortNumbers = map[string]uint16{}
		for _, n := range names {
			c.PortNumbers[n] = a.identity.Ports[n]
		}
	}
	return c, nil
}

// sameChannel compares configurations, callbacks and resume state aside.
func sameChannel(a, b portchannel.Config) bool {
	for _, c := range []*portchannel.Config{&a, &b} {
		c.OnChange, c.OnEvent, c.OnCheckpoint, c.Logger, c.Resume = nil, nil, nil, nil, nil
	}
	return reflect.DeepEqual(a, b)
}

// checkpointPath is where a port-channel's LACP checkpoint is kept.
func (a *Agent) checkpointPath(channel string) string {
	return filepath.Join(filepath.Dir(a.identity.path), "lacp-"+channel+".json")
}

// saveCheckpoint persists the LACP state a restarted agent resumes from,
// so partners keep their bundles across restarts and upgrades.
func (a *Agent) saveCheckpoint(channel string, cp lacp.Checkpoint) {
	data, err := json.Marshal(cp)
	if err == nil {
		err = writeFileAtomic(a.checkpointPath(channel), data)
	}
	if err != nil {
		a.log.Warn("save LACP checkpoint", zap.String("port-channel", channel), zap.Error(err))
	}
}

// loadCheckpoint reads a saved checkpoint; nil when there is none.
func (a *Agent) loadCheckpoint(channel string) (*lacp.Checkpoint, error) {
	data, err := os.ReadFile(a.checkpointPath(channel))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var cp lacp.Checkpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		return nil, fmt.Errorf("%s: %w", a.checkpointPath(channel), err)
	}
	return &cp, nil
}

// channelChanged receives the port-channel's new state. It may be called
// from inside the channel's methods, so it only hands the state to the
// agent's loop; a newer state replaces one not yet applied.
func (a *Agent) channelChanged(st portchannel.State) {
	for {
		select {
		case a.chUpdates <- st:
			return
		default:
		}
		select {
		case <-a.chUpdates:
		default:
		}
	}
}

func (a *Agent) channelEvent(e portchannel.Event) {
	a.log.Info("port-channel event", zap.Any("event", e))
}

// applyChannel reconciles the datapath to a port-channel state.
func (a *Agent) applyChannel(st portchannel.State) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.uplink == nil {
		return
	}
	a.uplink.view = uplinkState{State: st, Known: true}
	if err := a.commitLocked(a.cfg, a.attached); err != nil {
		a.log.Error("apply port-channel state", zap.Error(err))
		return
	}
	a.log.Info("port-channel members", zap.Strings("distributing", st.Distributing), zap.Strings("collecting", st.Collecting))
}
