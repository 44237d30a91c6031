//go:build cgo

// Package libvirtconn is libvirtwatch.Conn over libvirt.org/go/libvirt:
// the only cgo of the libvirt watcher, kept out of the watcher's logic so
// that logic is tested with fakes, and out of vem-agent altogether (only
// cmd/vem-libvirt imports it). Built without cgo, Dial returns an error.
//
// The connection is read-only (listing domains, reading their XML and
// receiving events need no more; on qemu:///system it uses libvirtd's
// read-only socket). Events are registered for every domain; their
// callbacks run on libvirt's default event loop, which this package runs
// on a goroutine of its own, and only queue the event: the watcher calls
// libvirt from its own goroutine, never from a callback.
package libvirtconn

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/vem-switch/vem/agent/libvirtwatch"
)

// Keepalive: a libvirtd that does not answer 3 probes 5 s apart is taken
// as gone (the close callback fires), as when it restarts.
const (
	keepaliveInterval = 5
	keepaliveCount    = 3
)

var (
	loopOnce sync.Once
	loopErr  error
)

// startLoop registers libvirt's default event loop and runs it, once per
// process: it must exist before the first connection is opened.
func startLoop() error {
	loopOnce.Do(func() {
		if err := libvirt.EventRegisterDefaultImpl(); err != nil {
			loopErr = fmt.Errorf("register libvirt's event loop: %w", err)
			return
		}
		go func() {
			for {
				if err := libvirt.EventRunDefaultImpl(); err != nil {
					time.Sleep(100 * time.Millisecond) // never spin
				}
			}
		}()
	})
	return loopErr
}

type conn struct {
	c   *libvirt.Connect
	ids []int
	q   *queue
}

// Dial opens a read-only connection to uri and registers the watcher's
// events on it.
func Dial(uri string) (libvirtwatch.Conn, error) {
	if err := startLoop(); err != nil {
		return nil, err
	}
	c, err := libvirt.NewConnectReadOnly(uri)
	if err != nil {
		return nil, fmt.Errorf("open the connection: %w", err)
	}
	lc := &conn{c: c, q: newQueue()}
	// Drivers without a daemon (test:///) have no keepalive: not an error.
	_ = c.SetKeepAlive(keepaliveInterval, keepaliveCount)
	if err := c.RegisterCloseCallback(func(_ *libvirt.Connect, reason libvirt.ConnectCloseReason) {
		lc.q.push(libvirtwatch.Event{Kind: libvirtwatch.EventClosed, Err: closeReason(reason)})
	}); err != nil {
		lc.Close()
		return nil, fmt.Errorf("register the close callback on %s: %w", uri, err)
	}
	regs := []func() (int, error){
		func() (int, error) {
			return c.DomainEventLifecycleRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventLifecycle) {
				ev := domainEvent(d, libvirtwatch.EventLifecycle)
				ev.Life, ev.Reason = lifecycle(e)
				ev.Arrival = arrival(e)
				ev.Incoming = e.Event == libvirt.DOMAIN_EVENT_STARTED &&
					libvirt.DomainEventStartedDetailType(e.Detail) == libvirt.DOMAIN_EVENT_STARTED_MIGRATED
				lc.q.push(ev)
			})
		},
		func() (int, error) {
			return c.DomainEventDeviceAddedRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventDeviceAdded) {
				ev := domainEvent(d, libvirtwatch.EventDeviceAdded)
				ev.Device = e.DevAlias
				lc.q.push(ev)
			})
		},
		func() (int, error) {
			return c.DomainEventDeviceRemovedRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, e *libvirt.DomainEventDeviceRemoved) {
				ev := domainEvent(d, libvirtwatch.EventDeviceRemoved)
				ev.Device = e.DevAlias
				lc.q.push(ev)
			})
		},
		func() (int, error) {
			return c.DomainEventMetadataChangeRegister(nil, func(_ *libvirt.Connect, d *libvirt.Domain, _ *libvirt.DomainEventMetadataChange) {
				lc.q.push(domainEvent(d, libvirtwatch.EventMetadata))
			})
		},
	}
	for _, reg := range regs {
		id, err := reg()
		if err != nil {
			lc.Close()
			return nil, fmt.Errorf("register domain events on %s: %w", uri, err)
		}
		lc.ids = append(lc.ids, id)
	}
	return lc, nil
}

func closeReason(r libvirt.ConnectCloseReason) error {
	switch r {
	case libvirt.CONNECT_CLOSE_REASON_ERROR:
		return errors.New("misc I/O error")
	case libvirt.CONNECT_CLOSE_REASON_EOF:
		return errors.New("end of file (libvirtd stopped or restarted)")
	case libvirt.CONNECT_CLOSE_REASON_KEEPALIVE:
		return errors.New("keepalive timer triggered")
	case libvirt.CONNECT_CLOSE_REASON_CLIENT:
		return errors.New("closed by the client")
	}
	return fmt.Errorf("close reason %d", int(r))
}

// domainEvent starts an event of d. Name and UUID are the domain object's
// own fields: no call to libvirtd.
func domainEvent(d *libvirt.Domain, kind libvirtwatch.EventKind) libvirtwatch.Event {
	ev := libvirtwatch.Event{Kind: kind}
	ev.Domain, _ = d.GetName()
	ev.UUID, _ = d.GetUUIDString()
	return ev
}

func lifecycle(e *libvirt.DomainEventLifecycle) (libvirtwatch.Lifecycle, libvirtwatch.StopReason) {
	switch e.Event {
	case libvirt.DOMAIN_EVENT_DEFINED:
		return libvirtwatch.LifeDefined, libvirtwatch.StopUnknown
	case libvirt.DOMAIN_EVENT_UNDEFINED:
		return libvirtwatch.LifeUndefined, libvirtwatch.StopUnknown
	case libvirt.DOMAIN_EVENT_STARTED:
		return libvirtwatch.LifeStarted, libvirtwatch.StopUnknown
	case libvirt.DOMAIN_EVENT_CRASHED:
		return libvirtwatch.LifeCrashed, libvirtwatch.StopCrashed
	case libvirt.DOMAIN_EVENT_RESUMED:
		return libvirtwatch.LifeResumed, libvirtwatch.StopUnknown
	case libvirt.DOMAIN_EVENT_STOPPED:
		var r libvirtwatch.StopReason
		switch libvirt.DomainEventStoppedDetailType(e.Detail) {
		case libvirt.DOMAIN_EVENT_STOPPED_SHUTDOWN:
			r = libvirtwatch.StopShutdown
		case libvirt.DOMAIN_EVENT_STOPPED_DESTROYED:
			r = libvirtwatch.StopDestroyed
		case libvirt.DOMAIN_EVENT_STOPPED_CRASHED:
			r = libvirtwatch.StopCrashed
		case libvirt.DOMAIN_EVENT_STOPPED_MIGRATED:
			r = libvirtwatch.StopMigrated
		case libvirt.DOMAIN_EVENT_STOPPED_SAVED:
			r = libvirtwatch.StopSaved
		case libvirt.DOMAIN_EVENT_STOPPED_FAILED:
			r = libvirtwatch.StopFailed
		case libvirt.DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT:
			r = libvirtwatch.StopSnapshot
		}
		return libvirtwatch.LifeStopped, r
	}
	return libvirtwatch.LifeOther, libvirtwatch.StopUnknown
}

// arrival says whether e is a guest that came in now running here (see
// libvirtwatch.Arrival): not STARTED/MIGRATED, which libvirt sends while
// the source still runs the guest.
func arrival(e *libvirt.DomainEventLifecycle) libvirtwatch.Arrival {
	switch e.Event {
	case libvirt.DOMAIN_EVENT_STARTED:
		if libvirt.DomainEventStartedDetailType(e.Detail) == libvirt.DOMAIN_EVENT_STARTED_RESTORED {
			return libvirtwatch.ArrivalResumed
		}
	case libvirt.DOMAIN_EVENT_RESUMED:
		switch libvirt.DomainEventResumedDetailType(e.Detail) {
		case libvirt.DOMAIN_EVENT_RESUMED_MIGRATED, libvirt.DOMAIN_EVENT_RESUMED_POSTCOPY:
			return libvirtwatch.ArrivalResumed
		case libvirt.DOMAIN_EVENT_RESUMED_UNPAUSED:
			return libvirtwatch.ArrivalUnpaused
		}
	}
	return libvirtwatch.ArrivalNone
}

func shutoffReason(r libvirt.DomainShutoffReason) libvirtwatch.StopReason {
	switch r {
	case libvirt.DOMAIN_SHUTOFF_SHUTDOWN:
		return libvirtwatch.StopShutdown
	case libvirt.DOMAIN_SHUTOFF_DESTROYED:
		return libvirtwatch.StopDestroyed
	case libvirt.DOMAIN_SHUTOFF_CRASHED:
		return libvirtwatch.StopCrashed
	case libvirt.DOMAIN_SHUTOFF_MIGRATED:
		return libvirtwatch.StopMigrated
	case libvirt.DOMAIN_SHUTOFF_SAVED:
		return libvirtwatch.StopSaved
	case libvirt.DOMAIN_SHUTOFF_FAILED:
		return libvirtwatch.StopFailed
	case libvirt.DOMAIN_SHUTOFF_FROM_SNAPSHOT:
		return libvirtwatch.StopSnapshot
	case libvirt.DOMAIN_SHUTOFF_DAEMON:
		return libvirtwatch.StopDaemon
	}
	return libvirtwatch.StopUnknown
}

func (lc *conn) Domains() ([]libvirtwatch.DomainInfo, error) {
	doms, err := lc.c.ListAllDomains(0)
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	defer func() {
		for i := range doms {
			_ = doms[i].Free()
		}
	}()
	out := make([]libvirtwatch.DomainInfo, 0, len(doms))
	for i := range doms {
		info, err := describe(&doms[i])
		if isNoDomain(err) {
			continue // undefined since the listing
		}
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

func (lc *conn) Domain(uuid string) (libvirtwatch.DomainInfo, error) {
	d, err := lc.c.LookupDomainByUUIDString(uuid)
	if err != nil {
		if isNoDomain(err) {
			return libvirtwatch.DomainInfo{}, fmt.Errorf("domain %s: %w", uuid, libvirtwatch.ErrNoDomain)
		}
		return libvirtwatch.DomainInfo{}, fmt.Errorf("look up domain %s: %w", uuid, err)
	}
	defer func() { _ = d.Free() }()
	info, err := describe(d)
	if isNoDomain(err) {
		return libvirtwatch.DomainInfo{}, fmt.Errorf("domain %s: %w", uuid, libvirtwatch.ErrNoDomain)
	}
	return info, err
}

func describe(d *libvirt.Domain) (libvirtwatch.DomainInfo, error) {
	var info libvirtwatch.DomainInfo
	var err error
	if info.Name, err = d.GetName(); err != nil {
		return info, fmt.Errorf("domain name: %w", err)
	}
	if info.UUID, err = d.GetUUIDString(); err != nil {
		return info, fmt.Errorf("domain %s: uuid: %w", info.Name, err)
	}
	state, reason, err := d.GetState()
	if err != nil {
		return info, fmt.Errorf("domain %s: state: %w", info.Name, err)
	}
	switch state {
	case libvirt.DOMAIN_SHUTOFF, libvirt.DOMAIN_NOSTATE:
		info.Reason = shutoffReason(libvirt.DomainShutoffReason(reason))
	case libvirt.DOMAIN_CRASHED:
		info.Reason = libvirtwatch.StopCrashed
	default:
		info.Running = true
	}
	xml, err := d.GetXMLDesc(0)
	if err != nil {
		return info, fmt.Errorf("domain %s: XML: %w", info.Name, err)
	}
	info.XML = []byte(xml)
	return info, nil
}

func isNoDomain(err error) bool {
	var le libvirt.Error
	return errors.As(err, &le) && le.Code == libvirt.ERR_NO_DOMAIN
}

func (lc *conn) Events() <-chan libvirtwatch.Event { return lc.q.out }

func (lc *conn) Close() error {
	for _, id := range lc.ids {
		_ = lc.c.DomainEventDeregister(id)
	}
	_ = lc.c.UnregisterCloseCallback()
	lc.q.close()
	if _, err := lc.c.Close(); err != nil {
		return fmt.Errorf("close the libvirt connection: %w", err)
	}
	return nil
}

// queue hands the callbacks' events to the watcher without ever blocking
// libvirt's event loop: pushes append to a list a goroutine drains.
type queue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	items  []libvirtwatch.Event
	closed bool
	out    chan libvirtwatch.Event
	done   chan struct{}
}

func newQueue() *queue {
	q := &queue{out: make(chan libvirtwatch.Event), done: make(chan struct{})}
	q.cond = sync.NewCond(&q.mu)
	go q.pump()
	return q
}

func (q *queue) push(ev libvirtwatch.Event) {
	q.mu.Lock()
	if !q.closed {
		q.items = append(q.items, ev)
		q.cond.Signal()
	}
	q.mu.Unlock()
}

func (q *queue) pump() {
	defer close(q.out)
	for {
		q.mu.Lock()
		for len(q.items) == 0 && !q.closed {
			q.cond.Wait()
		}
		if q.closed {
			q.mu.Unlock()
			return
		}
		ev := q.items[0]
		q.items = q.items[1:]
		q.mu.Unlock()
		select {
		case q.out <- ev:
		case <-q.done:
			return
		}
	}
}

func (q *queue) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.done)
		q.cond.Signal()
	}
	q.mu.Unlock()
}
