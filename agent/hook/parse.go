// Package hook is the libvirt qemu hook's logic: it reads the domain XML
// libvirt gives the hook on stdin, finds the interfaces that belong to vem
// and turns an operation (prepare, start, stopped, release, migrate, ...)
// into attach and detach requests on the agent's local API.
//
// An interface belongs to vem when its XML says so, in one of two ways:
//
//   - a <virtualport type='openvswitch'> with an interfaceid (and usually a
//     profileid), as Neutron and the Nexus 1000V for KVM plug a port;
//   - an entry in the domain's <metadata> under vem's namespace (Namespace),
//     matched to the interface by its virtualport interfaceid or its MAC.
//
// For example:
//
//	<metadata>
//	  <vem:ports xmlns:vem="https://vem-switch.dev/xmlns/libvirt/1">
//	    <vem:port mac="52:54:00:00:00:01" segment="web" profile="default"
//	              ips="192.0.2.1 2001:db8::1"/>
//	  </vem:ports>
//	</metadata>
//
// The metadata entry gives what libvirt's interface XML cannot: the
// segment (required) and the addresses (optional); the profile comes from
// the entry or from the virtualport's profileid (both given: they must
// agree). The port's interface is the interface's <target dev>, its MAC
// the <mac address>.
//
// The hook never trusts the XML: ParseDomain caps its size and nesting,
// refuses DTDs (so no entity expansion), processing instructions and a
// second root, and refuses vem elements or attributes it does not know,
// duplicate entries, entries that match no interface and two vem
// interfaces with the same target or MAC.
package hook

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"libvirt.org/go/libvirtxml"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/spec"
)

// Namespace is the XML namespace of vem's element in a domain's
// <metadata> (virsh metadata --uri).
const Namespace = "https://vem-switch.dev/xmlns/libvirt/1"

// Limits on the domain XML. A domain with hundreds of devices is a few
// hundred kilobytes, nested about ten deep.
const (
	// MaxXMLSize is the largest domain XML accepted, in bytes.
	MaxXMLSize = 4 << 20
	// MaxDepth is the deepest element nesting accepted.
	MaxDepth = 64
	// maxValue bounds a vem attribute's value.
	maxValue = 256
	// maxMetaPorts bounds the entries of the vem metadata element.
	maxMetaPorts = 1024
)

// ErrMalformed marks a domain XML the hook refuses as a whole.
var ErrMalformed = errors.New("domain XML refused")

// Domain is what the hook needs of a libvirt domain.
type Domain struct {
	Name string
	UUID string
	// Ports are the domain's vem interfaces in the order of its devices.
	Ports []Port
	// Unmatched names the vem metadata entries that match no interface
	// of the domain: a NIC unplugged while its entry stays, or a typo.
	// They are ignored, not refused: refusing would keep a domain whose
	// metadata outlived a NIC from ever starting again.
	Unmatched []string
}

// Port is one vem interface of a domain.
type Port struct {
	// Index is the interface's position among the domain's
	// <interface> elements, from 0.
	Index int
	// Interface is the target dev: the tap on the host; "" when libvirt
	// has not named it yet (before the domain starts).
	Interface string
	// MAC is the interface's MAC address in canonical form, "" if none.
	MAC string
	// InterfaceID is the virtualport's interfaceid (or the metadata
	// entry's), "" if none.
	InterfaceID string
	Segment     string
	Profile     string
	IPs         []string
	// Problems say why the port cannot be attached as it is written;
	// a missing target dev is not one of them (see Check).
	Problems []string
}

// Name identifies the port in messages: its target dev, or what else is
// known of it.
func (p Port) Name() string {
	switch {
	case p.Interface != "":
		return p.Interface
	case p.MAC != "":
		return "with MAC " + p.MAC
	case p.InterfaceID != "":
		return "with interfaceid " + p.InterfaceID
	}
	return fmt.Sprintf("#%d", p.Index+1)
}

// Check returns the port's problems, adding a missing target dev when
// needTarget is set (an attach needs it; a definition checked before
// libvirt names its taps does not).
func (p Port) Check(needTarget bool) error {
	probs := p.Problems
	if needTarget && p.Interface == "" {
		probs = append(append([]string(nil), probs...), "no <target dev>: libvirt has not named the tap")
	}
	if len(probs) == 0 {
		return nil
	}
	return errors.New(strings.Join(probs, "; "))
}

// Request returns the agent's attach request for p.
func (p Port) Request() spec.Port {
	return spec.Port{Interface: p.Interface, MAC: p.MAC, Segment: p.Segment, Profile: p.Profile, IPs: append([]string(nil), p.IPs...)}
}

// metaPort is one <vem:port> of the metadata.
type metaPort struct {
	interfaceID, mac, segment, profile string
	ips                                []string
	matched                            int // interfaces it matched
}

// ReadXML reads a domain XML of at most MaxXMLSize bytes from r.
func ReadXML(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxXMLSize+1))
	if err != nil {
		return nil, fmt.Errorf("read domain XML: %w", err)
	}
	if len(data) > MaxXMLSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxXMLSize)
	}
	return data, nil
}

// ParseDomain parses a domain XML and finds its vem ports. It refuses the
// whole document (ErrMalformed) when it is not one well-formed, bounded
// <domain> element or when vem's own elements are wrong; a problem that
// concerns one port only is in that Port's Problems.
func ParseDomain(data []byte) (*Domain, error) {
	if len(data) > MaxXMLSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxXMLSize)
	}
	metas, err := scan(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var def libvirtxml.Domain
	if err := xml.Unmarshal(data, &def); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	d := &Domain{Name: def.Name, UUID: def.UUID}
	if def.Devices != nil {
		for i := range def.Devices.Interfaces {
			p, ok, err := port(i, &def.Devices.Interfaces[i], metas)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
			}
			if ok {
				d.Ports = append(d.Ports, p)
			}
		}
	}
	for _, m := range metas {
		if m.matched == 0 {
			d.Unmatched = append(d.Unmatched, "vem:port "+m.key())
		}
	}
	if err := duplicates(d.Ports); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return d, nil
}

func (m *metaPort) key() string {
	if m.interfaceID != "" {
		return "interfaceid=" + quote(m.interfaceID)
	}
	return "mac=" + m.mac
}

// port makes the Port of the domain's i-th interface, ok false when the
// interface is not vem's.
func port(i int, ifc *libvirtxml.DomainInterface, metas []*metaPort) (Port, bool, error) {
	p := Port{Index: i}
	var ovs *libvirtxml.DomainInterfaceVirtualPortParamsOpenVSwitch
	if vp := ifc.VirtualPort; vp != nil && vp.Params != nil {
		ovs = vp.Params.OpenVSwitch
	}
	var mac string
	if ifc.MAC != nil && ifc.MAC.Address != "" {
		if hw, err := spec.ParseMAC(ifc.MAC.Address); err == nil {
			mac = hw.String()
		} else {
			p.Problems = append(p.Problems, fmt.Sprintf("<mac address=%s>: %v", quote(ifc.MAC.Address), err))
		}
	}
	var meta *metaPort
	for _, m := range metas {
		byID := m.interfaceID != "" && ovs != nil && m.interfaceID == ovs.InterfaceID
		byMAC := m.mac != "" && m.mac == mac
		if m.interfaceID != "" && m.mac != "" {
			// Both given: both must hold, else it is another interface's.
			if !byID || !byMAC {
				if byID || byMAC {
					return p, false, fmt.Errorf("vem:port %s mac=%s half matches interface #%d (interfaceid %s, MAC %s)",
						m.key(), m.mac, i+1, quote(ovsID(ovs)), orNone(mac))
				}
				continue
			}
		} else if !byID && !byMAC {
			continue
		}
		if meta != nil {
			return p, false, fmt.Errorf("interface #%d is matched by two vem:port entries (%s and %s)", i+1, meta.key(), m.key())
		}
		meta = m
		m.matched++
		if m.matched > 1 {
			return p, false, fmt.Errorf("vem:port %s matches more than one interface", m.key())
		}
	}
	if ovs == nil && meta == nil {
		return p, false, nil // not vem's
	}
	p.MAC = mac
	if ifc.Target != nil {
		p.Interface = ifc.Target.Dev
	}
	if ovs != nil {
		p.InterfaceID, p.Profile = ovs.InterfaceID, ovs.ProfileID
		if ovs.InterfaceID == "" && meta == nil {
			p.Problems = append(p.Problems, "virtualport type='openvswitch' without interfaceid")
		}
	}
	if meta != nil {
		if p.InterfaceID == "" {
			p.InterfaceID = meta.interfaceID
		}
		p.Segment, p.IPs = meta.segment, meta.ips
		switch {
		case meta.profile == "":
		case p.Profile == "":
			p.Profile = meta.profile
		case p.Profile != meta.profile:
			p.Problems = append(p.Problems, fmt.Sprintf("profile %s in vem:port differs from the virtualport's profileid %s", quote(meta.profile), quote(p.Profile)))
		}
	}
	if p.Interface != "" {
		if err := checkIfName(p.Interface); err != nil {
			p.Problems = append(p.Problems, err.Error())
		}
	}
	if mac == "" && (ifc.MAC == nil || ifc.MAC.Address == "") {
		p.Problems = append(p.Problems, "no <mac address>")
	}
	if p.Segment == "" {
		p.Problems = append(p.Problems, fmt.Sprintf("no segment: add <vem:port interfaceid=%s segment=...> to the domain's metadata (namespace %s)", quote(p.InterfaceID), Namespace))
	}
	if len(p.Profile) > maxValue {
		p.Problems = append(p.Problems, fmt.Sprintf("profile longer than %d bytes", maxValue))
	}
	return p, true, nil
}

func ovsID(ovs *libvirtxml.DomainInterfaceVirtualPortParamsOpenVSwitch) string {
	if ovs == nil {
		return ""
	}
	return ovs.InterfaceID
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// duplicates refuses two vem ports on one tap or with one MAC: the agent
// would take the first and refuse the second, or switch one MAC twice.
func duplicates(ps []Port) error {
	byIf, byMAC := map[string]int{}, map[string]int{}
	for _, p := range ps {
		if p.Interface != "" {
			if j, ok := byIf[p.Interface]; ok {
				return fmt.Errorf("interfaces #%d and #%d both have target dev %s", j+1, p.Index+1, p.Interface)
			}
			byIf[p.Interface] = p.Index
		}
		if p.MAC != "" {
			if j, ok := byMAC[p.MAC]; ok {
				return fmt.Errorf("interfaces #%d and #%d both have MAC %s", j+1, p.Index+1, p.MAC)
			}
			byMAC[p.MAC] = p.Index
		}
	}
	return nil
}

// checkIfName applies the kernel's rule for interface names.
func checkIfName(name string) error {
	switch {
	case len(name) > 15:
		return fmt.Errorf("target dev %s is longer than 15 bytes", quote(name))
	case name == "." || name == "..",
		strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '/' || r == ':' }) >= 0:
		return fmt.Errorf("target dev %s is not a valid interface name", quote(name))
	}
	return nil
}

// scan reads the document as tokens before any decoding into structures:
// it bounds the nesting, refuses DTDs, processing instructions and
// content after the root, checks that the root is <domain>, and collects
// the vem metadata entries with their namespaces resolved.
func scan(data []byte) ([]*metaPort, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	// No CharsetReader: a document that declares another encoding than
	// UTF-8 is refused by the decoder.
	var (
		depth    int
		rootSeen bool
		inMeta   bool // inside <domain><metadata>
		vemSeen  bool
		metas    []*metaPort
	)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineOf(dec, data), err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if rootSeen {
					return nil, fmt.Errorf("line %d: a second root element <%s>", lineOf(dec, data), t.Name.Local)
				}
				rootSeen = true
				if t.Name.Local != "domain" || t.Name.Space != "" {
					return nil, fmt.Errorf("root element is <%s>, not <domain>", qname(t.Name))
				}
			}
			depth++
			if depth > MaxDepth {
				return nil, fmt.Errorf("line %d: elements nested deeper than %d", lineOf(dec, data), MaxDepth)
			}
			if depth == 2 && t.Name.Local == "metadata" && t.Name.Space == "" {
				inMeta = true
			}
			if inMeta && depth == 3 && t.Name.Space == Namespace {
				if vemSeen {
					return nil, fmt.Errorf("line %d: a second vem element in <metadata>", lineOf(dec, data))
				}
				vemSeen = true
				ms, err := scanVem(dec, data, t)
				if err != nil {
					return nil, err
				}
				metas = ms
				depth--
			}
		case xml.EndElement:
			depth--
			if depth == 1 {
				inMeta = false
			}
		case xml.Directive:
			return nil, fmt.Errorf("line %d: a DTD or other <!...> directive is not accepted", lineOf(dec, data))
		case xml.ProcInst:
			if t.Target != "xml" || rootSeen {
				return nil, fmt.Errorf("line %d: processing instruction <?%s?> is not accepted", lineOf(dec, data), t.Target)
			}
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return nil, fmt.Errorf("line %d: text outside the root element", lineOf(dec, data))
			}
		}
	}
	if !rootSeen {
		return nil, errors.New("no <domain> element")
	}
	return metas, nil
}

// scanVem reads vem's metadata element, whose start the decoder has just
// returned, up to its end.
func scanVem(dec *xml.Decoder, data []byte, start xml.StartElement) ([]*metaPort, error) {
	if start.Name.Local != "ports" {
		return nil, fmt.Errorf("line %d: unknown vem element <%s> in <metadata>: want <ports>", lineOf(dec, data), start.Name.Local)
	}
	if err := onlyDecls(start.Attr); err != nil {
		return nil, fmt.Errorf("line %d: vem ports: %w", lineOf(dec, data), err)
	}
	var metas []*metaPort
	ids, macs := map[string]bool{}, map[string]bool{}
	depth := 1
	for depth > 0 {
		tok, err := dec.Token()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("line %d: %w", lineOf(dec, data), err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth != 2 || t.Name.Local != "port" || t.Name.Space != Namespace {
				return nil, fmt.Errorf("line %d: unexpected element <%s> in vem ports: want <port> in namespace %s", lineOf(dec, data), qname(t.Name), Namespace)
			}
			if len(metas) == maxMetaPorts {
				return nil, fmt.Errorf("line %d: more than %d vem ports", lineOf(dec, data), maxMetaPorts)
			}
			m, err := metaAttrs(t.Attr)
			if err != nil {
				return nil, fmt.Errorf("line %d: vem port: %w", lineOf(dec, data), err)
			}
			if m.interfaceID != "" {
				if ids[m.interfaceID] {
					return nil, fmt.Errorf("line %d: two vem ports with interfaceid %s", lineOf(dec, data), quote(m.interfaceID))
				}
				ids[m.interfaceID] = true
			}
			if m.mac != "" {
				if macs[m.mac] {
					return nil, fmt.Errorf("line %d: two vem ports with mac %s", lineOf(dec, data), m.mac)
				}
				macs[m.mac] = true
			}
			metas = append(metas, m)
		case xml.EndElement:
			depth--
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, fmt.Errorf("line %d: text in vem ports", lineOf(dec, data))
			}
		case xml.Directive, xml.ProcInst:
			return nil, fmt.Errorf("line %d: directive or processing instruction in vem ports", lineOf(dec, data))
		}
	}
	return metas, nil
}

// onlyDecls refuses attributes other than namespace declarations.
func onlyDecls(attrs []xml.Attr) error {
	for _, a := range attrs {
		if !isDecl(a) {
			return fmt.Errorf("unknown attribute %s", qname(a.Name))
		}
	}
	return nil
}

func isDecl(a xml.Attr) bool {
	return a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns")
}

// metaAttrs reads a <vem:port>'s attributes.
func metaAttrs(attrs []xml.Attr) (*metaPort, error) {
	m := &metaPort{}
	seen := map[string]bool{}
	for _, a := range attrs {
		if isDecl(a) {
			continue
		}
		if a.Name.Space != "" {
			return nil, fmt.Errorf("attribute %s: vem attributes have no namespace prefix", qname(a.Name))
		}
		if seen[a.Name.Local] {
			return nil, fmt.Errorf("attribute %s given twice", a.Name.Local)
		}
		seen[a.Name.Local] = true
		v := a.Value
		if len(v) > maxValue {
			return nil, fmt.Errorf("attribute %s longer than %d bytes", a.Name.Local, maxValue)
		}
		if strings.IndexFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 {
			return nil, fmt.Errorf("attribute %s has control characters", a.Name.Local)
		}
		switch a.Name.Local {
		case "interfaceid":
			m.interfaceID = v
		case "mac":
			hw, err := spec.ParseMAC(v)
			if err != nil {
				return nil, fmt.Errorf("mac: %w", err)
			}
			m.mac = hw.String()
		case "segment":
			m.segment = v
		case "profile":
			m.profile = v
		case "ips":
			ips, err := parseIPs(v)
			if err != nil {
				return nil, err
			}
			m.ips = ips
		default:
			return nil, fmt.Errorf("unknown attribute %s (want interfaceid, mac, segment, profile, ips)", quote(a.Name.Local))
		}
	}
	switch {
	case m.interfaceID == "" && m.mac == "":
		return nil, errors.New("neither interfaceid nor mac: it matches no interface")
	case m.segment == "":
		return nil, fmt.Errorf("%s: no segment", m.key())
	}
	return m, nil
}

// parseIPs reads a list of addresses separated by spaces or commas.
func parseIPs(v string) ([]string, error) {
	fields := strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
	seen := map[netip.Addr]bool{}
	var ips []string
	for _, f := range fields {
		if err := api.CheckPortIP(f); err != nil {
			return nil, fmt.Errorf("ips: %w", err)
		}
		a := netip.MustParseAddr(f)
		if seen[a] {
			return nil, fmt.Errorf("ips: %s given twice", a)
		}
		seen[a] = true
		ips = append(ips, a.String())
	}
	return ips, nil
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return "{" + n.Space + "}" + n.Local
}

// quote quotes a value from the XML for a one-line message.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// lineOf returns the line of the decoder's input offset.
func lineOf(dec *xml.Decoder, data []byte) int {
	off := dec.InputOffset()
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	return bytes.Count(data[:off], []byte{'\n'}) + 1
}
