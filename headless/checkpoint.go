package headless

import (
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/vem-switch/vem/spec"
)

// Checkpoint is what a VEM last applied from its VSM: enough to forward
// on after a restart with no VSM reachable, and to say in its next Hello
// which generation and module it held.
type Checkpoint struct {
	// Switch is the whole applied configuration: host facts, segments,
	// profiles and ports, defaults applied.
	Switch *spec.Switch `json:"switch"`
	// Generation is the VSM's generation of that configuration.
	Generation uint64 `json:"generation"`
	// Module is the module number the VSM gave (3 and up; 0: none yet).
	Module uint32 `json:"module"`
	// AttachedVSM and Epoch name the VSM the configuration came from and
	// its epoch then.
	AttachedVSM string `json:"attachedVSM,omitempty"`
	Epoch       uint64 `json:"epoch"`
	// Bindings are the VEM's bound ports.
	Bindings []Binding `json:"bindings,omitempty"`
	// RemoteMACs are the static remote MACs of the VEM's bridge domains.
	RemoteMACs []RemoteMAC `json:"remoteMACs,omitempty"`
	// HeadlessSince, when set, is when the VEM went headless: it was
	// headless when the checkpoint was written, and an agent restarted
	// from it resumes headless (not connecting) until a VSM takes it.
	HeadlessSince *time.Time `json:"headlessSince,omitempty"`
	// PortEvents are the port attaches and detaches waiting for the VSM,
	// in order: a restarted agent still replays them on its next attach.
	PortEvents []PortEvent `json:"portEvents,omitempty"`
	// SavedAt is when the checkpoint was written.
	SavedAt time.Time `json:"savedAt"`
}

// Binding is a port the VSM bound (or refused to bind).
type Binding struct {
	ID        string `json:"id,omitempty"`
	Interface string `json:"interface"`
	// VEth is N of VethernetN; 0 when refused.
	VEth           uint32 `json:"veth,omitempty"`
	DynamicProfile string `json:"dynamicProfile,omitempty"`
	Segment        string `json:"segment,omitempty"`
	Profile        string `json:"profile,omitempty"`
	MAC            string `json:"mac,omitempty"`
	// Refused, when set, says why the port was not bound.
	Refused string `json:"refused,omitempty"`
}

// PortEvent is a port attach (or, with Detach, a detach) the VEM has
// not told a VSM yet: the fields of the protocol's PortAttach.
type PortEvent struct {
	Detach    bool     `json:"detach,omitempty"`
	ID        string   `json:"id,omitempty"`
	Interface string   `json:"interface,omitempty"`
	MAC       string   `json:"mac,omitempty"`
	VM        string   `json:"vm,omitempty"`
	Segment   string   `json:"segment,omitempty"`
	Profile   string   `json:"profile,omitempty"`
	IPs       []string `json:"ips,omitempty"`
}

// RemoteMAC is a MAC of another VEM's port in one of this VEM's bridge
// domains, reached through that VEM's VTEP: a static entry of MAC
// distribution.
type RemoteMAC struct {
	VNI  uint32 `json:"vni"`
	MAC  string `json:"mac"`
	VTEP string `json:"vtep"`
}

// Check validates a checkpoint: a configuration that validates on its own
// (without looking at the host's interfaces), a module of 3 and up (or 0),
// named bindings and well-formed remote MACs.
func (c *Checkpoint) Check() error {
	if c.Switch == nil {
		return fmt.Errorf("no configuration")
	}
	if err := c.Switch.Validate(spec.ValidateOptions{}); err != nil {
		return fmt.Errorf("configuration of generation %d: %w", c.Generation, err)
	}
	if c.Module != 0 && c.Module < 3 {
		return fmt.Errorf("module %d: VEM modules are numbered from 3", c.Module)
	}
	for i, b := range c.Bindings {
		if b.Interface == "" && b.ID == "" {
			return fmt.Errorf("binding %d names neither an interface nor an id", i)
		}
	}
	for i, e := range c.PortEvents {
		if e.Interface == "" && e.ID == "" {
			return fmt.Errorf("port event %d names neither an interface nor an id", i)
		}
	}
	for i, m := range c.RemoteMACs {
		if m.VNI < 1 || m.VNI > spec.MaxVNI {
			return fmt.Errorf("remote MAC %d: VNI %d outside 1..%d", i, m.VNI, spec.MaxVNI)
		}
		if _, err := spec.ParseMAC(m.MAC); err != nil {
			return fmt.Errorf("remote MAC %d: %w", i, err)
		}
		if ip := net.ParseIP(m.VTEP); ip == nil || ip.To4() == nil {
			return fmt.Errorf("remote MAC %d: VTEP %q is not an IPv4 address", i, m.VTEP)
		}
	}
	return nil
}

// Clone returns a deep copy of the checkpoint's slices (the switch is
// shared: configurations are treated as immutable once applied).
func (c Checkpoint) Clone() Checkpoint {
	c.Bindings = slices.Clone(c.Bindings)
	c.RemoteMACs = slices.Clone(c.RemoteMACs)
	c.PortEvents = slices.Clone(c.PortEvents)
	if c.HeadlessSince != nil {
		since := *c.HeadlessSince
		c.HeadlessSince = &since
	}
	return c
}
