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
// reconfigured in place, recreated, or stopped. Called with e.mu held.
func (e *Engine) syncChannel(cfg *spec.Switch, vEths []string) error {
	pc, ok := cfg.PortChannel(cfg.Uplink)
	if !ok {
		e.stopChannel()
		return nil
	}
	want, err := e.channelConfig(pc)
	if err != nil {
		return err
	}
	if u := e.uplink; u != nil && sameChannel(u.cfg, want) {
		u.ch.SetVEths(vEths)
		return nil
	}
	if u := e.uplink; u != nil && u.cfg.Name == want.Name {
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
	if cp, err := e.loadCheckpoint(want.Name); err != nil {
		e.log.Warn("LACP checkpoint unreadable; negotiating afresh", zap.Error(err))
	} else {
		created.Resume = cp
	}
	ch, err := portchannel.New(created)
	if err != nil {
		return err
	}
	e.stopChannel()
	// Until the new channel reports, the datapath keeps the members it
	// has: a restarted agent does not stop the uplink while LACP starts.
	e.uplink = &uplinkChannel{ch: ch, cfg: want}
	e.uplinkGen++
	ch.SetVEths(vEths)
	e.log.Info("port-channel started", zap.String("name", want.Name), zap.String("mode", string(want.Mode)))
	if e.runCtx != nil {
		e.startChannel()
	}
	return nil
}

// startChannel runs the uplink's port-channel until the agent stops.
func (e *Engine) startChannel() {
	u := e.uplink
	ctx, cancel := context.WithCancel(e.runCtx)
	u.cancel = cancel
	go func() {
		if err := u.ch.Run(ctx); err != nil {
			e.log.Error("port-channel stopped", zap.String("name", u.cfg.Name), zap.Error(err))
		}
	}()
}

func (e *Engine) stopChannel() {
	if e.uplink != nil && e.uplink.cancel != nil {
		e.uplink.cancel()
	}
	if e.uplink != nil {
		e.uplinkGen++
	}
	e.uplink = nil
}

// channelConfig is the portchannel configuration of pc, with this host's
// persisted LACP identity.
func (e *Engine) channelConfig(pc *spec.PortChannel) (portchannel.Config, error) {
	names := make([]string, len(pc.Members))
	for i, m := range pc.Members {
		names[i] = m.Interface
	}
	if err := e.id.ensure(pc.Name, names); err != nil {
		return portchannel.Config{}, err
	}
	lacpMode := pc.Mode == spec.ModeLACPActive || pc.Mode == spec.ModeLACPPassive
	c := portchannel.Config{
		Name: pc.Name, Mode: pc.Mode, Rate: pc.Rate, MinLinks: pc.MinLinks,
		AutoPriorityFailover: pc.AutoFailback(),
		OnChange:             e.channelChanged,
		Links:                e.watch,
		Clock:                e.clock,
		OnEvent:              e.channelEvent,
		Logger:               e.log,
	}
	if lacpMode {
		c.OnCheckpoint = func(cp lacp.Checkpoint) { e.saveCheckpoint(pc.Name, cp) }
	}
	for _, m := range pc.Members {
		prio := m.Priority
		if lacpMode && prio == 0 {
			prio = lacp.DefaultPortPriority // unset: 802.1AX's default
		}
		c.Members = append(c.Members, portchannel.Member{Name: m.Interface, Priority: prio})
	}
	if lacpMode {
		c.System = lacp.SystemID{Priority: lacp.DefaultSystemPriority, MAC: e.id.SystemMAC}
		c.Key = e.id.Keys[pc.Name]
		c.PortNumbers = map[string]uint16{}
		for _, n := range names {
			c.PortNumbers[n] = e.id.Ports[n]
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
func (e *Engine) checkpointPath(channel string) string {
	return filepath.Join(filepath.Dir(e.id.path), "lacp-"+channel+".json")
}

// saveCheckpoint persists the LACP state a restarted agent resumes from,
// so partners keep their bundles across restarts and upgrades.
func (e *Engine) saveCheckpoint(channel string, cp lacp.Checkpoint) {
	data, err := json.Marshal(cp)
	if err == nil {
		err = writeFileAtomic(e.checkpointPath(channel), data)
	}
	if err != nil {
		e.log.Warn("save LACP checkpoint", zap.String("port-channel", channel), zap.Error(err))
	}
}

// loadCheckpoint reads a saved checkpoint; nil when there is none.
func (e *Engine) loadCheckpoint(channel string) (*lacp.Checkpoint, error) {
	data, err := os.ReadFile(e.checkpointPath(channel))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var cp lacp.Checkpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		return nil, fmt.Errorf("%s: %w", e.checkpointPath(channel), err)
	}
	return &cp, nil
}

// channelChanged receives the port-channel's new state. It may be called
// from inside the channel's methods, so it only hands the state to the
// agent's loop; a newer state replaces one not yet applied.
func (e *Engine) channelChanged(st portchannel.State) {
	for {
		select {
		case e.chUpdates <- st:
			return
		default:
		}
		select {
		case <-e.chUpdates:
		default:
		}
	}
}

func (e *Engine) channelEvent(ev portchannel.Event) {
	e.log.Info("port-channel event", zap.Any("event", ev))
}
