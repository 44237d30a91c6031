// Package watchtest has a fake vem-agent for the libvirt watcher's tests.
package watchtest

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"sync"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/spec"
)

// Agent is a fake vem-agent: it keeps attached ports as the real one does
// (idempotent attach, conflict on another configuration, 404 on an
// unknown port) and records every call.
type Agent struct {
	mu       sync.Mutex
	calls    []string
	ports    map[string]spec.Port
	absent   map[string]bool
	segments []string
	down     bool
}

// NewAgent returns an agent with the segments web and db.
func NewAgent() *Agent {
	return &Agent{ports: map[string]spec.Port{}, absent: map[string]bool{}, segments: []string{"web", "db"}}
}

func (a *Agent) record(call string) error {
	a.calls = append(a.calls, call)
	if a.down {
		return fmt.Errorf("%w (fake agent down)", api.ErrNotRunning)
	}
	return nil
}

// Attach implements libvirtwatch.Agent.
func (a *Agent) Attach(_ context.Context, p spec.Port) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.record("attach " + p.Interface); err != nil {
		return err
	}
	if cur, ok := a.ports[p.Interface]; ok {
		if reflect.DeepEqual(cur, p) {
			return nil
		}
		return &api.Error{Status: http.StatusConflict, Message: "port " + p.Interface + " is already attached with another configuration"}
	}
	if !slices.Contains(a.segments, p.Segment) {
		return &api.Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("segment: no segment named %q", p.Segment)}
	}
	a.ports[p.Interface] = p
	return nil
}

// AttachIncoming implements libvirtwatch.Agent: Attach, recorded as
// "attach-incoming IFACE".
func (a *Agent) AttachIncoming(ctx context.Context, p spec.Port) error {
	err := a.Attach(ctx, p)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls[len(a.calls)-1] = "attach-incoming " + p.Interface
	return err
}

// Announce implements libvirtwatch.Agent: it records "announce IFACE"
// ("announce-pending IFACE" for a pending-only request) and refuses a port
// that is not attached or whose interface is gone.
func (a *Agent) Announce(_ context.Context, iface string, req api.AnnounceRequest) (api.AnnounceReply, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	call := "announce " + iface
	if req.PendingOnly {
		call = "announce-pending " + iface
	}
	if err := a.record(call); err != nil {
		return api.AnnounceReply{}, err
	}
	if _, ok := a.ports[iface]; !ok || a.absent[iface] {
		return api.AnnounceReply{}, &api.Error{Status: http.StatusNotFound, Message: "announce " + iface + ": no vEth up on this interface"}
	}
	return api.AnnounceReply{Interface: iface, Announced: true}, nil
}

// Detach implements libvirtwatch.Agent.
func (a *Agent) Detach(_ context.Context, iface string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.record("detach " + iface); err != nil {
		return err
	}
	if _, ok := a.ports[iface]; !ok {
		return &api.Error{Status: http.StatusNotFound, Message: "port " + iface + " is not attached"}
	}
	delete(a.ports, iface)
	return nil
}

// Ports implements libvirtwatch.Agent.
func (a *Agent) Ports(context.Context) ([]api.Port, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down {
		return nil, fmt.Errorf("%w (fake agent down)", api.ErrNotRunning)
	}
	out := []api.Port{}
	for _, p := range a.ports {
		st := api.PortUp
		if a.absent[p.Interface] {
			st = api.PortAbsent
		}
		out = append(out, api.Port{Interface: p.Interface, Kind: "veth", MAC: p.MAC, Segment: p.Segment, Profile: p.Profile, State: st, Source: "attached"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Interface < out[j].Interface })
	return out, nil
}

// Put attaches p without recording a call, as the hook or an earlier run
// would have.
func (a *Agent) Put(p spec.Port) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ports[p.Interface] = p
}

// SetAbsent marks a port's interface gone (its tap deleted).
func (a *Agent) SetAbsent(iface string, absent bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.absent[iface] = absent
}

// SetDown makes every call fail as an unreachable agent's.
func (a *Agent) SetDown(down bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.down = down
}

// Calls returns the calls so far and forgets them.
func (a *Agent) Calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls
	a.calls = nil
	return c
}

// Attached returns the attached ports by interface.
func (a *Agent) Attached() map[string]spec.Port {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[string]spec.Port, len(a.ports))
	for k, v := range a.ports {
		m[k] = v
	}
	return m
}
