package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
)

// benchVEM is one test VEM: a real protocol client whose reader records
// heartbeat arrivals and acknowledges every configuration at once.
type benchVEM struct {
	host string
	s    *protocol.VSMSession

	configs    atomic.Int64 // snapshots received
	macUpdates atomic.Int64
	bindings   atomic.Int64
	attached   chan struct{} // closed at the first configuration

	mu     sync.Mutex
	hbAt   []time.Time          // wire arrival of every heartbeat
	ackAt  map[uint64]time.Time // generation → when acknowledged
	lastHB uint64
}

// dialBenchVEM opens host's session; conf is host's TLS configuration.
func dialBenchVEM(ctx context.Context, addr, host string, conf *tls.Config, lim *spec.Limits) (*benchVEM, error) {
	sw := &spec.Switch{Host: host, Uplink: "eth0"}
	s, err := protocol.Dial(ctx, addr, protocol.ClientConfig{Domain: vsmBenchDomain, Host: sw, TLS: conf,
		Validate: spec.ValidateOptions{Limits: lim}})
	if err != nil {
		return nil, fmt.Errorf("dial as %s: %w", host, err)
	}
	v := &benchVEM{host: host, s: s, attached: make(chan struct{}), ackAt: map[uint64]time.Time{}}
	go v.read()
	return v, nil
}

func (v *benchVEM) read() {
	first := true
	for {
		ev, err := v.s.Recv(context.Background())
		if err != nil {
			return
		}
		switch e := ev.(type) {
		case *protocol.Heartbeat:
			hb, at := v.s.LastHeartbeat()
			v.mu.Lock()
			if hb != nil && hb.GetSeq() != v.lastHB {
				v.lastHB = hb.GetSeq()
				v.hbAt = append(v.hbAt, at)
			}
			v.mu.Unlock()
		case *protocol.Config:
			_ = v.s.Ack(e)
			now := time.Now()
			v.configs.Add(1)
			v.mu.Lock()
			if _, ok := v.ackAt[e.Generation]; !ok {
				v.ackAt[e.Generation] = now
			}
			v.mu.Unlock()
			if first {
				first = false
				close(v.attached)
			}
		case *protocol.MacUpdate:
			v.macUpdates.Add(1)
		case *protocol.PortBinding:
			v.bindings.Add(1)
		}
	}
}

// ackedAt is when the VEM first acknowledged generation gen or a later
// one (a newer snapshot replaces an older one not yet taken).
func (v *benchVEM) ackedAt(gen uint64) (time.Time, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var best time.Time
	for g, at := range v.ackAt {
		if g >= gen && (best.IsZero() || at.Before(best)) {
			best = at
		}
	}
	return best, !best.IsZero()
}

// heartbeatsBetween are the arrival times of heartbeats in [from, to).
func (v *benchVEM) heartbeatsBetween(from, to time.Time) []time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []time.Time
	for _, at := range v.hbAt {
		if !at.Before(from) && at.Before(to) {
			out = append(out, at)
		}
	}
	return out
}

// messages is what the VEM has received of configuration traffic.
func (v *benchVEM) messages() int64 {
	return v.configs.Load() + v.macUpdates.Load()
}
