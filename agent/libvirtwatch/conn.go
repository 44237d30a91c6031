// Package libvirtwatch keeps vem-agent's attached ports in step with the
// domains libvirt runs: at start-up and after every reconnection it lists
// the domains and reconciles their vem ports with the agent's (attaching
// what the qemu hook missed while the agent was down, detaching the ports
// of domains that no longer run), then follows libvirt's lifecycle,
// device-added, device-removed and metadata-change events, and reconnects
// with backoff when libvirtd goes away. Each vem port carries a state as a
// cluster agent's resource would (see PortState), written to a JSON status
// file an operator reads with `vem-libvirt status`.
//
// The package has no cgo: it talks to libvirt through the narrow Conn
// interface, whose implementation over libvirt.org/go/libvirt lives in
// package libvirtconn, and to the agent through Agent (an *api.Client).
// vem-agent never imports either: the watcher runs as its own daemon,
// cmd/vem-libvirt, so the agent still builds with CGO_ENABLED=0 and runs
// on hosts without libvirt.
//
// Which NICs are vem's, and their segment, profile and addresses, is read
// from the domain XML by package hook, exactly as the qemu hook reads it.
package libvirtwatch

import (
	"errors"
	"fmt"
)

// ErrNoDomain is what Conn.Domain returns for a domain libvirt does not
// know (undefined, or a transient domain that stopped).
var ErrNoDomain = errors.New("no such domain")

// Conn is what the watcher needs of a libvirt connection.
type Conn interface {
	// Domains lists every domain, running or not, with its XML.
	Domains() ([]DomainInfo, error)
	// Domain returns one domain by UUID; ErrNoDomain when it is gone.
	Domain(uuid string) (DomainInfo, error)
	// Events delivers the connection's events in order. An EventClosed
	// (or the channel's closing) ends the connection.
	Events() <-chan Event
	// Close deregisters the events and closes the connection.
	Close() error
}

// Dialer opens a connection to a libvirt URI.
type Dialer func(uri string) (Conn, error)

// DomainInfo is a domain as libvirt reports it now.
type DomainInfo struct {
	Name, UUID string
	// Running is true for an active domain (running, paused, blocked,
	// being shut down, suspended to memory).
	Running bool
	// Reason is why an inactive domain is not running.
	Reason StopReason
	// XML is the live definition of a running domain (with the target
	// devs libvirt gave its taps), else the inactive one.
	XML []byte
}

// StopReason is why a domain stopped, from a stopped event's detail or
// an inactive domain's state reason.
type StopReason int

// The stop reasons, libvirt's VIR_DOMAIN_EVENT_STOPPED_* and
// VIR_DOMAIN_SHUTOFF_* in one set.
const (
	// StopUnknown: never started, or stopped for a reason libvirt does
	// not know (while nobody watched).
	StopUnknown StopReason = iota
	// StopShutdown: an orderly shutdown (the guest's or the operator's).
	StopShutdown
	// StopDestroyed: the operator destroyed it.
	StopDestroyed
	// StopMigrated: migrated to another host.
	StopMigrated
	// StopSaved: saved to a file by the operator.
	StopSaved
	// StopSnapshot: reverted to a snapshot.
	StopSnapshot
	// StopCrashed: the guest crashed.
	StopCrashed
	// StopFailed: QEMU failed (or was killed).
	StopFailed
	// StopDaemon: libvirtd killed it while reconnecting to it.
	StopDaemon
)

var stopNames = [...]string{"unknown", "shutdown", "destroyed", "migrated", "saved", "from-snapshot", "crashed", "failed", "daemon"}

func (r StopReason) String() string {
	if r >= 0 && int(r) < len(stopNames) {
		return stopNames[r]
	}
	return fmt.Sprintf("StopReason(%d)", int(r))
}

// state is the port state a stop for reason r leaves, and why.
func (r StopReason) state() (PortState, string) {
	switch r {
	case StopShutdown:
		return IntentionalOffline, "domain shut down"
	case StopDestroyed:
		return IntentionalOffline, "domain destroyed by the operator"
	case StopMigrated:
		return IntentionalOffline, "domain migrated away"
	case StopSaved:
		return IntentionalOffline, "domain saved"
	case StopSnapshot:
		return IntentionalOffline, "domain reverted to a snapshot"
	case StopCrashed:
		return Faulted, "domain crashed"
	case StopFailed:
		return Faulted, "domain failed (QEMU died)"
	case StopDaemon:
		return Faulted, "domain killed by libvirtd"
	}
	return Offline, "domain not running"
}

// EventKind says what an Event reports.
type EventKind int

// The event kinds.
const (
	// EventLifecycle: the domain was defined, started, stopped, ...
	EventLifecycle EventKind = iota
	// EventDeviceAdded: a device (a NIC, say) was hot-plugged.
	EventDeviceAdded
	// EventDeviceRemoved: a device was hot-unplugged.
	EventDeviceRemoved
	// EventMetadata: the domain's metadata changed (vem's ports entry).
	EventMetadata
	// EventClosed: the connection is lost (libvirtd restarted, keepalive
	// timed out); Err says why.
	EventClosed
)

var kindNames = [...]string{"lifecycle", "device-added", "device-removed", "metadata-change", "closed"}

func (k EventKind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Lifecycle is a lifecycle event's type, as far as the watcher cares.
type Lifecycle int

// The lifecycle events.
const (
	LifeOther Lifecycle = iota
	LifeDefined
	LifeUndefined
	LifeStarted
	LifeStopped
	LifeCrashed
	LifeResumed
)

var lifeNames = [...]string{"other", "defined", "undefined", "started", "stopped", "crashed", "resumed"}

func (l Lifecycle) String() string {
	if l >= 0 && int(l) < len(lifeNames) {
		return lifeNames[l]
	}
	return fmt.Sprintf("Lifecycle(%d)", int(l))
}

// Event is one event of a connection.
type Event struct {
	Kind         EventKind
	Domain, UUID string
	// Life is a lifecycle event's type; Reason a stopped event's detail.
	Life   Lifecycle
	Reason StopReason
	// Arrival says whether a started or resumed event is a guest that
	// came in (migrated, restored) now running here.
	Arrival Arrival
	// Incoming marks STARTED with detail MIGRATED: a domain migrating in
	// has started here while its guest still runs on the source.
	Incoming bool
	// Device is a device event's alias (net0, ua-...).
	Device string
	// Err is why an EventClosed closed the connection.
	Err error
}

// Arrival is what a lifecycle event says of a guest that came to this
// host: the moment it runs here, which libvirt's hooks do not see.
type Arrival int

// The arrivals.
const (
	// ArrivalNone: not an arrival. STARTED with detail MIGRATED is none:
	// libvirt sends it when the destination's QEMU starts, at the
	// migration's prepare phase, while the guest still runs on the source.
	ArrivalNone Arrival = iota
	// ArrivalResumed: the guest runs here now: RESUMED with detail
	// MIGRATED (an incoming migration's end) or POSTCOPY (its switchover
	// to post-copy), or STARTED with detail RESTORED (a restore).
	ArrivalResumed
	// ArrivalUnpaused: RESUMED with detail UNPAUSED: the operator
	// resumed a domain, which may have migrated or been restored paused.
	ArrivalUnpaused
)

var arrivalNames = [...]string{"none", "resumed", "unpaused"}

func (a Arrival) String() string {
	if a >= 0 && int(a) < len(arrivalNames) {
		return arrivalNames[a]
	}
	return fmt.Sprintf("Arrival(%d)", int(a))
}
