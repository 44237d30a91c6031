package agent

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/internal/clock"
)

// A vEth that comes up on this host (a VM started, or migrated in) is
// announced into its segment at once, as QEMU's announce-self and Open
// vSwitch do: a few rounds of RARP, and of gratuitous ARP for each IPv4
// address the port has, from the VM's MAC. Upstream switches and the
// other VEMs then move the MAC to this host before the guest's own
// announcement, which may come late or never (a silent guest).
//
// VLAN and flat segments: the frame, tagged with the segment's VLAN,
// goes out of one uplink member (the vEth's pinned one with mac-pinning,
// else the first distributing one) on a packet socket. VXLAN segments: a
// VXLAN-encapsulated copy goes to every VTEP of the bridge domain through
// the kernel's UDP stack, from the local VTEP address, so the receiving
// VEMs learn the MAC against this VTEP. Local ports need no frame: a
// port-secured vEth's MAC is a static entry from the moment it is
// written; an open one's stale learned entry (the VM's old place) is
// deleted, so frames to it flood to the new port until it speaks.

// defaultAnnounceSchedule is when the rounds go out, counted from the
// moment the port is written: one at once, then QEMU's announce-self
// intervals (50 ms, then 100 ms more each), stretched towards a second so
// that a source host that still held the MAC for a moment (its port not
// yet gone) relearns it too.
var defaultAnnounceSchedule = []time.Duration{
	0, 50 * time.Millisecond, 150 * time.Millisecond, 300 * time.Millisecond,
	600 * time.Millisecond, 1200 * time.Millisecond,
}

// announceTx sends announcement frames: the announcer's edge to the
// network.
type announceTx interface {
	// SendFrame sends a whole Ethernet frame out of an interface.
	SendFrame(ifindex int, frame []byte) error
	// SendUDP sends payload from src (any port) to dst.
	SendUDP(src netip.Addr, dst netip.AddrPort, payload []byte) error
	// Close releases the sockets.
	Close() error
}

// AnnounceStats counts the announcer's work since the agent started.
type AnnounceStats struct {
	// Ports is how many port appearances were announced.
	Ports uint64
	// Sent and Failed count frames (one per VTEP for VXLAN).
	Sent, Failed uint64
	// Deferred counts the ports of incoming domains that came up without
	// an announcement (announce_incoming.go); Pending is how many wait
	// now; Expired counts the holds that ended unannounced.
	Deferred, Expired uint64
	Pending           int
}

// announceJob is one port's announcement in progress.
type announceJob struct {
	due     time.Time
	started time.Time
	round   int
	ifindex int
	iface   string
	mac     net.HardwareAddr
	segment uint32
	sent    int
	failed  int
	lastErr error
}

// announcer announces the vEths the engine writes. written is called
// under the engine's lock and only queues; run sends.
type announcer struct {
	log      *zap.Logger
	tx       announceTx
	plan     func() *plan // the plan last written; nil before the first
	forget   func(segment uint32, mac net.HardwareAddr) error
	schedule []time.Duration
	clock    clock.Clock

	hold time.Duration // how long an incoming port's announcement waits

	mu    sync.Mutex
	jobs  map[int]*announceJob // by ifindex
	holds map[string]*incomingHold
	wake  chan struct{}

	ports, sent, failed, deferred, expired atomic.Uint64
}

// announcerOptions are an announcer's edges.
type announcerOptions struct {
	Log *zap.Logger
	Tx  announceTx
	// Plan returns the plan the engine wrote last.
	Plan func() *plan
	// Forget deletes a learned MAC entry; nil for none.
	Forget func(segment uint32, mac net.HardwareAddr) error
	// Schedule overrides defaultAnnounceSchedule (tests).
	Schedule []time.Duration
	// Hold overrides defaultIncomingHold (tests).
	Hold  time.Duration
	Clock clock.Clock
}

func newAnnouncer(o announcerOptions) *announcer {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Clock == nil {
		o.Clock = clock.System()
	}
	if len(o.Schedule) == 0 {
		o.Schedule = defaultAnnounceSchedule
	}
	if o.Hold <= 0 {
		o.Hold = defaultIncomingHold
	}
	return &announcer{log: o.Log, tx: o.Tx, plan: o.Plan, forget: o.Forget, schedule: o.Schedule, hold: o.Hold,
		clock: o.Clock, jobs: map[int]*announceJob{}, holds: map[string]*incomingHold{}, wake: make(chan struct{}, 1)}
}

// Stats returns the counters.
func (a *announcer) Stats() AnnounceStats {
	a.mu.Lock()
	pending := 0
	for _, h := range a.holds {
		if h.held {
			pending++
		}
	}
	a.mu.Unlock()
	return AnnounceStats{Ports: a.ports.Load(), Sent: a.sent.Load(), Failed: a.failed.Load(),
		Deferred: a.deferred.Load(), Expired: a.expired.Load(), Pending: pending}
}

// written queues an announcement for every vEth that next brings up:
// a new one, one back from admin-down, or one whose MAC or segment
// changed; and for every vEth that mac-pinning moved to another uplink
// member, so the upstream switch moves its MAC to that link (as the
// failover of a pinned uplink must). It must be quick: the engine holds
// its lock.
func (a *announcer) written(prev, next *plan) {
	if prev == nil || next == nil {
		return
	}
	now := a.clock.Now()
	queued := false
	a.mu.Lock()
	for ifindex, pi := range next.ports {
		if pi.Kind != bpf.PortVEth || pi.Entry.Down || next.segments[pi.Entry.Segment].Type == bpf.SegmentLocal {
			continue // nothing beyond this host to tell
		}
		old, had := prev.ports[ifindex]
		if had && old.Kind == bpf.PortVEth && !old.Entry.Down && bytes.Equal(old.Entry.MAC, pi.Entry.MAC) &&
			old.Entry.Segment == pi.Entry.Segment && !repinned(old, pi, next) {
			continue
		}
		if a.heldLocked(pi, now) {
			continue // an incoming domain's port: announced when it resumes here
		}
		a.jobs[ifindex] = &announceJob{due: now, started: now, ifindex: ifindex, iface: pi.Iface,
			mac: macOf(pi.Entry.MAC), segment: pi.Entry.Segment}
		queued = true
	}
	a.mu.Unlock()
	if queued {
		a.poke()
	}
}

// repinned reports whether mac-pinning moved the vEth from one member to
// another on a segment that leaves through the uplink untunnelled. A
// first pin is not a move: a restarted agent pins every vEth once its
// port-channel reports, mostly where the previous one had it.
func repinned(old, cur portInfo, p *plan) bool {
	if old.Entry.Pin.Ifindex == 0 || cur.Entry.Pin.Ifindex == 0 || cur.Entry.Pin.Ifindex == old.Entry.Pin.Ifindex {
		return false
	}
	t := p.segments[cur.Entry.Segment].Type
	return t == bpf.SegmentVLAN || t == bpf.SegmentFlat
}

func (a *announcer) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// run sends the queued rounds until ctx ends.
func (a *announcer) run(ctx context.Context) {
	defer a.tx.Close()
	for {
		now := a.clock.Now()
		var due []*announceJob
		var next time.Time
		a.mu.Lock()
		for _, j := range a.jobs {
			if !j.due.After(now) {
				due = append(due, j)
			} else if next.IsZero() || j.due.Before(next) {
				next = j.due
			}
		}
		if until := a.expireLocked(now); !until.IsZero() && (next.IsZero() || until.Before(next)) {
			next = until
		}
		a.mu.Unlock()
		for _, j := range due {
			a.round(j)
		}
		if len(due) > 0 {
			continue // rounds rescheduled: look again
		}
		var timer clock.Timer
		if !next.IsZero() {
			timer = a.clock.AfterFunc(next.Sub(now), a.poke)
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-a.wake:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// round sends one round of j and schedules the next, or ends j.
func (a *announcer) round(j *announceJob) {
	a.mu.Lock()
	if a.jobs[j.ifindex] != j {
		a.mu.Unlock()
		return // replaced by a newer write of the port
	}
	a.mu.Unlock()
	p := a.plan()
	pi, ok := portInfo{}, false
	if p != nil {
		pi, ok = p.ports[j.ifindex]
	}
	if !ok || pi.Kind != bpf.PortVEth || pi.Entry.Down || !bytes.Equal(pi.Entry.MAC, j.mac) || pi.Entry.Segment != j.segment {
		a.end(j, "port gone or changed before the announcement ended")
		return
	}
	if j.round == 0 {
		a.ports.Add(1)
		if !pi.Entry.Secure && a.forget != nil {
			// An open port's MAC is learned, not static: where it was
			// learned before (the uplink, a tunnel) is where the VM
			// was. Forget it, so frames to it flood here until it speaks.
			if err := a.forget(j.segment, j.mac); err != nil {
				a.log.Warn("forget the MAC's old place", zap.String("interface", j.iface), zap.Error(err))
			}
		}
	}
	a.send(p, pi, j)
	j.round++
	if j.round >= len(a.schedule) {
		a.end(j, "")
		return
	}
	a.mu.Lock()
	if a.jobs[j.ifindex] == j {
		j.due = j.started.Add(a.schedule[j.round])
	}
	a.mu.Unlock()
}

// send sends one round of j's frames into the port's segment.
func (a *announcer) send(p *plan, pi portInfo, j *announceJob) {
	seg, ok := p.segments[j.segment]
	if !ok {
		return
	}
	frames := announceFrames(j.mac, pi.Config.IPs)
	count := func(err error) {
		if err != nil {
			j.failed++
			j.lastErr = err
			a.failed.Add(1)
			return
		}
		j.sent++
		a.sent.Add(1)
	}
	switch seg.Type {
	case bpf.SegmentVLAN, bpf.SegmentFlat:
		member := pi.Entry.Pin.Ifindex
		if member == 0 && p.uplink != nil && len(p.uplink.Members) > 0 {
			member = p.uplink.Members[0].Ifindex
		}
		if member == 0 {
			return // no uplink in service: nobody beyond this host to tell
		}
		for _, f := range frames {
			if seg.Type == bpf.SegmentVLAN {
				f = tagged(f, seg.VLAN)
			}
			count(a.tx.SendFrame(member, f))
		}
	case bpf.SegmentVXLAN:
		if !p.settings.VTEP.IsValid() {
			return
		}
		for _, vtep := range seg.VTEPs {
			dst := netip.AddrPortFrom(vtep, p.settings.VTEPPort)
			for _, f := range frames {
				count(a.tx.SendUDP(p.settings.VTEP, dst, vxlanPayload(seg.VNI, f)))
			}
		}
	}
}

// end removes j and logs what it did.
func (a *announcer) end(j *announceJob, why string) {
	a.mu.Lock()
	if a.jobs[j.ifindex] == j {
		delete(a.jobs, j.ifindex)
	}
	a.mu.Unlock()
	fields := []zap.Field{zap.String("interface", j.iface), zap.Stringer("mac", j.mac),
		zap.Int("rounds", j.round), zap.Int("frames", j.sent), zap.Duration("took", a.clock.Now().Sub(j.started))}
	switch {
	case why != "":
		a.log.Info("MAC announcement stopped: "+why, fields...)
	case j.failed > 0:
		a.log.Warn("MAC announced, some frames not sent", append(fields, zap.Int("failed", j.failed), zap.Error(j.lastErr))...)
	default:
		a.log.Info("MAC announced", fields...)
	}
}

// newAnnouncer returns the agent's announcer over the real sockets; it
// reads the engine's plans once the engine exists.
func (a *Agent) newAnnouncer(dp *bpf.Datapath) *announcer {
	return newAnnouncer(announcerOptions{
		Log: a.log, Tx: newSocketTx(), Clock: a.opts.Clock, Forget: dp.DeleteMAC,
		Plan: func() *plan {
			if v := a.engine.view(); v != nil {
				return v.plan
			}
			return nil
		},
	})
}

// AnnounceStats returns the MAC announcer's counters.
func (a *Agent) AnnounceStats() AnnounceStats { return a.announce.Stats() }
