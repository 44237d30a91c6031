package ovsport

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/hook"
	"github.com/vem-switch/vem/spec"
)

// The external_ids keys the source reads (libvirt's, then vem's own) and
// the one it writes.
const (
	KeyIfaceID     = "iface-id"
	KeyAttachedMAC = "attached-mac"
	KeyVMID        = "vm-id"
	KeyVMUUID      = "vm-uuid"
	KeyPortProfile = "port-profile"
	KeyIfaceStatus = "iface-status"
	KeySegment     = "vem-segment"
	KeyProfile     = "vem-profile"
	KeyIPs         = "vem-ips"
	// KeyInstalled is OVN's mark of a port that forwards.
	KeyInstalled = "ovn-installed"
)

// maxValue bounds a value the source reads, as the hook bounds a vem
// attribute.
const maxValue = 256

// maxIPs bounds the addresses of one port.
const maxIPs = 64

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Defaults are what an interface takes when its external_ids name no
// segment or profile: the file's ovs.segment and ovs.profile.
type Defaults struct {
	Segment, Profile string
	// ByID (VSM mode) takes an interface that names no segment: the VSM
	// binds it by its iface-id, the ID of a port created there (a UUID,
	// as Neutron's port IDs), which has its own addresses.
	ByID bool
}

// Port is a vEth port the source found: the hook's mapping of a VM's
// interface, with the row it came from.
type Port struct {
	hook.Port
	// UUID is the Interface row's.
	UUID string
	// VM is the domain's UUID (vm-id), "" if not given.
	VM string
}

// Spec returns the port as the agent's desired state holds it.
func (p Port) Spec() spec.Port { return p.Request() }

// ErrInactive is returned by Decode for an interface whose iface-status
// is "inactive": vem's, but not to be bound now.
var ErrInactive = errors.New("iface-status is inactive")

// Decode makes the port of an Interface row. ok is false for a row that
// is not vem's (no iface-id), which is left alone. An error says why a
// row that is vem's cannot be bound (ErrInactive when it is inactive);
// the message names the interface and every problem found.
func Decode(r *Row, def Defaults) (p Port, ok bool, err error) {
	if r.Bad != nil {
		return Port{UUID: r.UUID}, true, r.Bad
	}
	ids := r.ExternalIDs
	ifaceID, has := ids[KeyIfaceID]
	if !has {
		return Port{}, false, nil
	}
	p = Port{UUID: r.UUID}
	var probs []string
	val := func(key string) string {
		v := ids[key]
		if err := checkValue(v); err != nil {
			probs = append(probs, fmt.Sprintf("external_ids:%s %v", key, err))
			return ""
		}
		return v
	}
	p.Interface = r.Name
	if err := checkIfName(r.Name); err != nil {
		probs = append(probs, err.Error())
	}
	p.InterfaceID = val(KeyIfaceID)
	if ifaceID == "" {
		probs = append(probs, "external_ids:iface-id is empty")
	}
	switch st := val(KeyIfaceStatus); st {
	case "", "active":
	case "inactive":
		if len(probs) == 0 {
			return p, true, fmt.Errorf("interface %s: %w", quote(r.Name), ErrInactive)
		}
	default:
		probs = append(probs, fmt.Sprintf("external_ids:iface-status %s: want active or inactive", quote(st)))
	}
	_, hasMAC := ids[KeyAttachedMAC]
	switch mac := val(KeyAttachedMAC); {
	case !hasMAC:
		probs = append(probs, "no external_ids:attached-mac")
	case mac == "":
		if checkValue(ids[KeyAttachedMAC]) == nil {
			probs = append(probs, "external_ids:attached-mac is empty")
		}
	default:
		if hw, err := spec.ParseMAC(mac); err != nil {
			probs = append(probs, fmt.Sprintf("external_ids:attached-mac: %v", err))
		} else {
			p.MAC = hw.String()
		}
	}
	vmID, vmUUID := val(KeyVMID), val(KeyVMUUID)
	switch {
	case vmID != "" && vmUUID != "" && !strings.EqualFold(vmID, vmUUID):
		probs = append(probs, fmt.Sprintf("external_ids:vm-id %s and vm-uuid %s differ", quote(vmID), quote(vmUUID)))
	case vmID != "":
		p.VM = vmID
	default:
		p.VM = vmUUID
	}
	if p.VM != "" && !uuidRE.MatchString(p.VM) {
		probs = append(probs, fmt.Sprintf("external_ids:vm-id %s is not a UUID", quote(p.VM)))
	}
	// The hook's rule: the profileid and vem's profile, when both are
	// given, must agree.
	pp, vp := val(KeyPortProfile), val(KeyProfile)
	switch {
	case pp != "" && vp != "" && pp != vp:
		probs = append(probs, fmt.Sprintf("external_ids:vem-profile %s differs from port-profile %s", quote(vp), quote(pp)))
	case pp != "":
		p.Profile = pp
	case vp != "":
		p.Profile = vp
	default:
		p.Profile = def.Profile
	}
	if p.Segment = val(KeySegment); p.Segment == "" {
		p.Segment = def.Segment
	}
	switch {
	case p.Segment != "":
	case !def.ByID:
		probs = append(probs, "no segment: set external_ids:vem-segment, or ovs.segment in the agent's file")
	case !uuidRE.MatchString(p.InterfaceID):
		probs = append(probs, fmt.Sprintf("no segment, and iface-id %s is not the UUID of a port the VSM could bind: set external_ids:vem-segment", quote(p.InterfaceID)))
	case ids[KeyIPs] != "":
		probs = append(probs, "external_ids:vem-ips without vem-segment: a port the VSM binds by iface-id has its own addresses")
	}
	if ips := val(KeyIPs); ips != "" {
		list, err := parseIPs(ips)
		if err != nil {
			probs = append(probs, fmt.Sprintf("external_ids:vem-ips: %v", err))
		}
		p.IPs = list
	}
	p.Problems = probs
	if err := p.Check(true); err != nil {
		return p, true, fmt.Errorf("interface %s: %w", quote(r.Name), err)
	}
	return p, true, nil
}

// checkValue holds a value the source reads to what the hook accepts of
// an attribute: bounded, UTF-8, no control characters.
func checkValue(v string) error {
	switch {
	case len(v) > maxValue:
		return fmt.Errorf("is longer than %d bytes", maxValue)
	case !utf8.ValidString(v):
		return errors.New("is not UTF-8")
	case strings.IndexFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0:
		return errors.New("has control characters")
	}
	return nil
}

// checkIfName applies the kernel's rule for interface names, as the hook
// does to a target dev.
func checkIfName(name string) error {
	switch {
	case name == "":
		return errors.New("the interface has no name")
	case len(name) > 15:
		return fmt.Errorf("name %s is longer than 15 bytes", quote(name))
	case name == "." || name == "..",
		strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '/' || r == ':' }) >= 0:
		return fmt.Errorf("name %s is not a valid interface name", quote(name))
	}
	return nil
}

// parseIPs reads a list of addresses separated by spaces or commas, as
// the hook reads vem:port's ips.
func parseIPs(v string) ([]string, error) {
	fields := strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
	if len(fields) > maxIPs {
		return nil, fmt.Errorf("more than %d addresses", maxIPs)
	}
	seen := map[netip.Addr]bool{}
	var ips []string
	for _, f := range fields {
		if err := api.CheckPortIP(f); err != nil {
			return nil, err
		}
		a := netip.MustParseAddr(f)
		if seen[a] {
			return nil, fmt.Errorf("%s given twice", a)
		}
		seen[a] = true
		ips = append(ips, a.String())
	}
	return ips, nil
}

// quote quotes a value from a row for a one-line message.
func quote(s string) string { return fmt.Sprintf("%q", clip(s)) }
