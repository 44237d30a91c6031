package vems_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/netdef"
	"github.com/vem-switch/vem/vsm/store"
	"github.com/vem-switch/vem/vsm/vems"
)

// bigNetwork is a network whose snapshot is some hundreds of kilobytes:
// many vlan segments with long names, and profiles.
func bigNetwork(n int, tag string) netdef.Network {
	var nw netdef.Network
	pad := strings.Repeat("x", 100)
	for i := range n {
		nw.Segments = append(nw.Segments, spec.Segment{Name: fmt.Sprintf("seg-%04d-%s", i, pad), Type: spec.SegmentVLAN, VLAN: i%4000 + 1})
		nw.Profiles = append(nw.Profiles, spec.Profile{Name: fmt.Sprintf("prof-%04d-%s-%s", i, tag, pad), PortSecurity: i%2 == 0})
	}
	return nw
}

// TestHeartbeatsDuringSnapshots streams large snapshots to a VEM without
// pause (the store changes as fast as it can for several seconds) and
// checks that the VEM hears a heartbeat every second throughout.
func TestHeartbeatsDuringSnapshots(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	p := newPKI(t)
	v := startVSM(t, p, "", vsmOptions{})
	if _, err := v.store.Sync(bigNetwork(2000, "a"), store.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	hv1 := newVEM(t, p, v.addr, "hv1", vemOptions{})
	_, cfg := hv1.attach()
	if cfg.Size < 256<<10 {
		t.Fatalf("snapshot of %d bytes: too small to load the session", cfg.Size)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 4500*time.Millisecond)
	defer cancel()
	changes := make(chan int, 1)
	go func() {
		n := 0
		for ctx.Err() == nil {
			if _, err := v.store.Sync(bigNetwork(2000, fmt.Sprint(n)), store.SyncOptions{}); err != nil {
				break
			}
			n++
		}
		changes <- n
	}()
	// The VEM's reader records heartbeats as they come off the wire.
	var seqs []uint64
	var times []time.Time
	for ctx.Err() == nil {
		if hb, at := hv1.s.LastHeartbeat(); hb != nil && (len(seqs) == 0 || hb.GetSeq() != seqs[len(seqs)-1]) {
			seqs, times = append(seqs, hb.GetSeq()), append(times, at)
		}
		time.Sleep(5 * time.Millisecond)
	}
	n := <-changes
	configs := len(hv1.configs)
	t.Logf("%d changes, %d snapshots received, heartbeats %v", n, configs, seqs)
	if n < 3 || configs < 2 {
		t.Fatalf("only %d changes and %d snapshots: the test did not load the session", n, configs)
	}
	if len(seqs) < 4 {
		t.Fatalf("%d heartbeats in 4.5 s", len(seqs))
	}
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap > 1500*time.Millisecond || seqs[i] != seqs[i-1]+1 {
			t.Fatalf("heartbeat %d came %v after %d", seqs[i], gap, seqs[i-1])
		}
	}
}

// TestRefusals dials with another domain's configuration and with a
// certificate of another CA: both are refused, and the attached VEM's
// session goes on, heartbeating.
func TestRefusals(t *testing.T) {
	p := newPKI(t)
	v := startVSM(t, p, "", vsmOptions{heartbeat: 100 * time.Millisecond})
	hv1 := newVEM(t, p, v.addr, "hv1", vemOptions{})
	hv1.attach()
	cases := []struct {
		name string
		host string
		o    vemOptions
		want error
	}{
		{"another domain", "hv2", vemOptions{domain: 200}, protocol.ErrDomain},
		{"another CA", "hv3", vemOptions{dir: p.other}, nil},
		{"a cert of the same host from another CA", "hv1", vemOptions{dir: p.other}, nil},
	}
	for _, c := range cases {
		s, err := dialVEM(t, p, v.addr, c.host, c.o)
		if err == nil {
			_ = s.Close()
			t.Fatalf("%s: dial succeeded", c.name)
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Fatalf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	hb, _ := hv1.s.LastHeartbeat()
	before := hb.GetSeq()
	eventually(t, "hv1 still hears heartbeats", func() bool {
		hb, _ := hv1.s.LastHeartbeat()
		return hb.GetSeq() >= before+3
	})
	select {
	case <-hv1.s.Done():
		t.Fatalf("hv1's session ended: %v", hv1.s.Err())
	default:
	}
	if m := module(t, v.m, "hv1"); m.Status != vems.StatusOK || m.Module != 3 {
		t.Fatalf("hv1: %+v", m)
	}
	for _, h := range []string{"hv2", "hv3"} {
		if m := module(t, v.m, h); m.Host != "" {
			t.Fatalf("refused %s listed: %+v", h, m)
		}
	}
}
