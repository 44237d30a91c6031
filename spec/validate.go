package spec

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// ValidateOptions tunes the checks Validate makes beyond the file itself.
type ValidateOptions struct {
	// InterfaceExists reports whether a network interface of that name
	// exists on this host; it is asked about every port, port-channel
	// member and uplink interface. Nil skips the check, as Parse and Load
	// do, so that a file can be checked away from its host.
	InterfaceExists func(name string) bool
	// Limits are the datapath's capacities; nil means DefaultLimits.
	Limits *Limits
}

func (o ValidateOptions) limits() Limits {
	if o.Limits != nil {
		return *o.Limits
	}
	return DefaultLimits
}

// Limits enforced by Validate.
const (
	MinMACAgeing  = 10 * time.Second      // shortest macAgeing
	MaxMACAgeing  = 1000000 * time.Second // longest macAgeing
	MaxVLAN       = 4094                  // highest VLAN ID; 0 and 4095 are reserved
	MaxVNI        = 1<<24 - 1             // highest VXLAN network identifier
	MaxPriority   = 65535                 // highest member priority (16 bits in LACP)
	MinSegmentMTU = 576                   // smallest vxlan segment MTU
	MaxSegmentMTU = 9000                  // largest vxlan segment MTU
)

// DefaultSegmentMTU is a vxlan segment's MTU when the file sets none.
const DefaultSegmentMTU = 1500

const (
	maxSocketPath = 107 // sun_path is 108 bytes with the terminating NUL
	maxIfName     = 15  // IFNAMSIZ less the terminating NUL
)

// instanceRE is what may name the bpffs directory /sys/fs/bpf/vem/<instance>/.
var instanceRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,32}$`)

const instanceRule = "is not 1..32 of [a-zA-Z0-9_-]: it names the directory /sys/fs/bpf/vem/<instance>/"

// ValidInstance checks an instance name wherever one enters: it names
// directories (/sys/fs/bpf/vem/<instance>/, /var/lib/vem/<instance>/), so
// ".", ".." or a path would reach outside them.
func ValidInstance(name string) error {
	if !instanceRE.MatchString(name) {
		return fmt.Errorf("instance %q %s", name, instanceRule)
	}
	return nil
}

// Validate checks the configuration as Parse leaves it (defaults applied)
// and returns a *ValidationError listing every problem, or nil. Problems
// name the field path; their Line is 0, Parse fills it in.
func (c *Switch) Validate(opts ValidateOptions) error {
	v := validator{
		c:        c,
		opts:     opts,
		lim:      opts.limits(),
		memberAt: map[string]string{},
		portAt:   map[string]string{},
	}
	v.top()
	v.portChannels()
	v.segments()
	v.profiles()
	v.ports()
	v.uplink()
	v.portChannelNames()
	v.capacity()
	v.vsm()
	v.metrics()
	v.ovs()
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

type validator struct {
	c        *Switch
	opts     ValidateOptions
	lim      Limits
	problems []Problem

	// memberAt and portAt map the interfaces of port-channel members and
	// of vEth ports to the field naming them.
	memberAt map[string]string
	portAt   map[string]string
	// needsUplink names the first segment that leaves the host.
	needsUplink string
}

func (v *validator) addf(field, format string, args ...any) {
	v.problems = append(v.problems, Problem{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// unique records key at field in seen, or reports the field it repeats.
// Empty keys are left to the required checks.
func (v *validator) unique(seen map[string]string, key, field string) {
	if key == "" {
		return
	}
	if first, dup := seen[key]; dup {
		v.addf(field, "duplicate %s (also %s)", key, first)
		return
	}
	seen[key] = field
}

func (v *validator) top() {
	c := v.c
	if c.Host == "" {
		v.addf("host", "required")
	}
	switch {
	case c.Instance == "":
		v.addf("instance", "required")
	default:
		if !instanceRE.MatchString(c.Instance) {
			v.addf("instance", "%q %s", c.Instance, instanceRule)
		}
	}
	switch {
	case c.Socket == "":
		v.addf("socket", "required")
	case !filepath.IsAbs(c.Socket):
		v.addf("socket", "%q is not an absolute path", c.Socket)
	case len(c.Socket) > maxSocketPath:
		v.addf("socket", "%q is longer than %d bytes, the limit of a unix socket path", c.Socket, maxSocketPath)
	}
	if d := time.Duration(c.MACAgeing); d < MinMACAgeing || d > MaxMACAgeing {
		v.addf("macAgeing", "%s is outside 10s..1000000s", d)
	}
	if c.VTEP != nil {
		if c.VTEP.Address == "" {
			v.addf("vtep.address", "required")
		} else if _, err := parseUnicastIPv4(c.VTEP.Address); err != nil {
			v.addf("vtep.address", "%v", err)
		}
		if c.VTEP.Port == 0 {
			v.addf("vtep.port", "required")
		}
	}
}

func (v *validator) portChannels() {
	names := map[string]string{}
	for i := range v.c.PortChannels {
		pc := &v.c.PortChannels[i]
		p := fmt.Sprintf("portChannels[%d]", i)
		if v.name(p+".name", pc.Name) {
			v.unique(names, pc.Name, p+".name")
		}

		switch pc.Mode {
		case ModeLACPActive, ModeLACPPassive:
			switch pc.Rate {
			case RateFast, RateSlow:
			case "":
				v.addf(p+".rate", "required: fast or slow")
			default:
				v.addf(p+".rate", "%q is not fast or slow", pc.Rate)
			}
		case ModeStatic, ModeMACPinning:
			if pc.Rate != "" {
				v.addf(p+".rate", "only lacp-active and lacp-passive take a rate, not %s", pc.Mode)
			}
		case "":
			v.addf(p+".mode", "required: one of lacp-active, lacp-passive, static, mac-pinning")
		default:
			v.addf(p+".mode", "%q is not one of lacp-active, lacp-passive, static, mac-pinning", pc.Mode)
		}
		switch {
		case pc.Mode == ModeMACPinning && pc.Hash != "":
			v.addf(p+".hash", "mac-pinning pins each vEth to one member and takes no hash")
		case pc.Mode.Hashes():
			switch pc.Hash {
			case HashSrcDstMAC, HashSrcDstIP, HashSrcDstIPL4Port:
			case "":
				v.addf(p+".hash", "required: one of src-dst-mac, src-dst-ip, src-dst-ip-l4port")
			default:
				v.addf(p+".hash", "%q is not one of src-dst-mac, src-dst-ip, src-dst-ip-l4port", pc.Hash)
			}
		}

		switch n := len(pc.Members); {
		case n == 0:
			v.addf(p+".members", "required: 1 to %d members", v.lim.Members)
		case n > v.lim.Members:
			v.addf(p+".members", "%d members, at most %d", n, v.lim.Members)
		}
		if pc.MinLinks < 0 || pc.MinLinks > max(len(pc.Members), 1) {
			v.addf(p+".minLinks", "%d is outside 0..%d (the number of members)", pc.MinLinks, len(pc.Members))
		}
		if pc.AutoPriorityFailover != nil && pc.Mode != ModeMACPinning {
			v.addf(p+".autoPriorityFailover", "only mac-pinning takes autoPriorityFailover, not %s", pc.Mode)
		}
		for j, m := range pc.Members {
			mp := fmt.Sprintf("%s.members[%d]", p, j)
			if v.iface(mp+".interface", m.Interface) {
				v.unique(v.memberAt, m.Interface, mp+".interface")
			}
			if m.Priority < 0 || m.Priority > MaxPriority {
				v.addf(mp+".priority", "%d is outside 0..%d", m.Priority, MaxPriority)
			}
		}
	}
}

func (v *validator) segments() {
	names := map[string]string{}
	vlans := map[int]string{}
	vnis := map[int]string{}
	var flat, needsVTEP string
	for i := range v.c.Segments {
		s := &v.c.Segments[i]
		p := fmt.Sprintf("segments[%d]", i)
		label := s.Name
		if s.Name == "" {
			label = p
			v.addf(p+".name", "required")
		}
		v.unique(names, s.Name, p+".name")

		switch s.Type {
		case SegmentVLAN:
			switch {
			case s.VLAN == 0:
				v.addf(p+".vlan", "required: 1..%d", MaxVLAN)
			case s.VLAN < 1 || s.VLAN > MaxVLAN:
				v.addf(p+".vlan", "%d is outside 1..%d", s.VLAN, MaxVLAN)
			case vlans[s.VLAN] != "":
				v.addf(p+".vlan", "vlan %d is also segment %s", s.VLAN, vlans[s.VLAN])
			default:
				vlans[s.VLAN] = label
			}
		case SegmentFlat:
			if flat != "" {
				v.addf(p+".type", "at most one flat segment, and %s is flat", flat)
			} else {
				flat = label
			}
		case SegmentLocal:
		case SegmentVXLAN:
			switch {
			case s.VNI == 0:
				v.addf(p+".vni", "required: 1..%d", MaxVNI)
			case s.VNI < 1 || s.VNI > MaxVNI:
				v.addf(p+".vni", "%d is outside 1..%d", s.VNI, MaxVNI)
			case vnis[s.VNI] != "":
				v.addf(p+".vni", "vni %d is also segment %s", s.VNI, vnis[s.VNI])
			default:
				vnis[s.VNI] = label
			}
			v.vteps(p, s.VTEPs)
			if needsVTEP == "" {
				needsVTEP = label
			}
		case "":
			v.addf(p+".type", "required: one of vlan, flat, local, vxlan")
		default:
			v.addf(p+".type", "%q is not one of vlan, flat, local, vxlan", s.Type)
		}

		if validSegmentType(s.Type) && s.Type != SegmentLocal && v.needsUplink == "" {
			v.needsUplink = label
		}
		// Fields of another type are mistakes (a vlan on a vxlan segment is
		// not its VNI); an unknown type was reported above already.
		if !validSegmentType(s.Type) {
			continue
		}
		if s.Type != SegmentVLAN && s.VLAN != 0 {
			v.addf(p+".vlan", "only vlan segments take a vlan, not %s", s.Type)
		}
		if s.Type != SegmentVXLAN && s.VNI != 0 {
			v.addf(p+".vni", "only vxlan segments take a vni, not %s", s.Type)
		}
		if s.Type != SegmentVXLAN && len(s.VTEPs) > 0 {
			v.addf(p+".vteps", "only vxlan segments take vteps, not %s", s.Type)
		}
		if s.Type != SegmentVXLAN && s.MTU != 0 {
			v.addf(p+".mtu", "only vxlan segments take an mtu, not %s", s.Type)
		}
		if s.Type == SegmentVXLAN && (s.MTU < MinSegmentMTU || s.MTU > MaxSegmentMTU) {
			v.addf(p+".mtu", "%d is outside %d..%d", s.MTU, MinSegmentMTU, MaxSegmentMTU)
		}
		if s.Type == SegmentVXLAN && len(s.VTEPs) > v.lim.VTEPsPerBridgeDomain {
			v.addf(p+".vteps", "%d VTEPs, at most %d", len(s.VTEPs), v.lim.VTEPsPerBridgeDomain)
		}
	}
	if needsVTEP != "" && v.c.VTEP == nil {
		v.addf("vtep", "required: segment %s is vxlan", needsVTEP)
	}
}

// vteps checks a vxlan segment's remote tunnel endpoints.
func (v *validator) vteps(seg string, vteps []string) {
	var local netip.Addr
	if v.c.VTEP != nil {
		local, _ = netip.ParseAddr(v.c.VTEP.Address)
	}
	seen := map[netip.Addr]string{}
	for i, s := range vteps {
		field := fmt.Sprintf("%s.vteps[%d]", seg, i)
		a, err := parseUnicastIPv4(s)
		switch {
		case err != nil:
			v.addf(field, "%v", err)
		case a == local:
			v.addf(field, "%s is this host's own vtep", a)
		case seen[a] != "":
			v.addf(field, "duplicate %s (also %s)", a, seen[a])
		default:
			seen[a] = field
		}
	}
}

func (v *validator) profiles() {
	names := map[string]string{}
	for i := range v.c.Profiles {
		pr := &v.c.Profiles[i]
		field := fmt.Sprintf("profiles[%d].name", i)
		if pr.Name == "" {
			v.addf(field, "required")
		}
		v.unique(names, pr.Name, field)
		v.portSecurity(fmt.Sprintf("profiles[%d]", i), pr)
	}
}

func (v *validator) ports() {
	macs := map[string]string{}
	for i, pt := range v.c.Ports {
		p := fmt.Sprintf("ports[%d]", i)
		if v.iface(p+".interface", pt.Interface) {
			if m, ok := v.memberAt[pt.Interface]; ok {
				v.addf(p+".interface", "%s is also the uplink member %s", pt.Interface, m)
			} else {
				v.unique(v.portAt, pt.Interface, p+".interface")
			}
		}

		if pt.MAC == "" {
			v.addf(p+".mac", "required")
		} else if mac, err := ParseMAC(pt.MAC); err != nil {
			v.addf(p+".mac", "%v", err)
		} else {
			v.unique(macs, mac.String(), p+".mac")
		}

		if pt.Segment == "" {
			v.addf(p+".segment", "required")
		} else if _, ok := v.c.Segment(pt.Segment); !ok {
			v.addf(p+".segment", "no segment named %q", pt.Segment)
		}
		if pt.Profile != "" {
			if _, ok := v.c.Profile(pt.Profile); !ok {
				v.addf(p+".profile", "no profile named %q", pt.Profile)
			}
		}
		v.portAddresses(p, &v.c.Ports[i])
	}
}

func (v *validator) uplink() {
	up := v.c.Uplink
	if up == "" {
		if v.needsUplink != "" {
			v.addf("uplink", "segment %s needs an uplink", v.needsUplink)
		}
		return
	}
	if _, ok := v.c.PortChannel(up); ok {
		return
	}
	if v.iface("uplink", up) {
		if p, ok := v.portAt[up]; ok {
			v.addf("uplink", "%s is also the vEth %s", up, p)
		}
	}
}

// portChannelNames rejects a port-channel named like an interface, which
// would make an uplink of that name ambiguous.
func (v *validator) portChannelNames() {
	for i, pc := range v.c.PortChannels {
		field := fmt.Sprintf("portChannels[%d].name", i)
		if other, ok := v.memberAt[pc.Name]; ok {
			v.addf(field, "%s is also the interface %s", pc.Name, other)
		} else if other, ok := v.portAt[pc.Name]; ok {
			v.addf(field, "%s is also the interface %s", pc.Name, other)
		}
	}
}

// iface checks that field holds a Linux interface name and, when asked,
// that the interface exists. It reports whether the name is well formed.
func (v *validator) iface(field, name string) bool {
	if !v.name(field, name) {
		return false
	}
	if v.opts.InterfaceExists != nil && !v.opts.InterfaceExists(name) {
		v.addf(field, "interface %s does not exist", name)
	}
	return true
}

// name checks that field holds a valid Linux interface name, the rule of
// the kernel's dev_valid_name: 1..15 bytes, not "." or "..", and no '/',
// ':' or whitespace (nor, here, control characters).
func (v *validator) name(field, name string) bool {
	switch {
	case name == "":
		v.addf(field, "required")
	case len(name) > maxIfName:
		v.addf(field, "%q is longer than %d bytes, the limit of a Linux interface name", name, maxIfName)
	case name == "." || name == "..":
		v.addf(field, "%q is not a valid interface name", name)
	case strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '/' || r == ':' }) >= 0:
		v.addf(field, "%q is not a valid interface name: no '/', ':', whitespace or control characters", name)
	default:
		return true
	}
	return false
}

func validSegmentType(t SegmentType) bool {
	switch t {
	case SegmentVLAN, SegmentFlat, SegmentLocal, SegmentVXLAN:
		return true
	}
	return false
}

// parseUnicastIPv4 parses a tunnel endpoint address: dotted-quad IPv4,
// neither unspecified, loopback, multicast nor broadcast.
func parseUnicastIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address", s)
	}
	switch {
	case a.IsUnspecified(), a.IsMulticast(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return netip.Addr{}, fmt.Errorf("%s is not a unicast address", a)
	case a.IsLoopback():
		return netip.Addr{}, fmt.Errorf("%s is a loopback address", a)
	}
	return a, nil
}
