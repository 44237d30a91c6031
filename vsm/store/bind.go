package store

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/netdef"
)

// MaxVethernets is how many ports one module may have bound: what one
// VEM's datapath holds.
var MaxVethernets = spec.DefaultLimits.Ports

// Bind binds the interface iface of module (a VEM, on host) as req asks:
// by the ID of a pre-created port, or by segment and profile. It returns
// the binding with its vEth number and dynamic port profile, creating the
// profile for a new pair of policy profile and segment.
//
// Binding an interface again with the same request changes nothing and
// returns the same binding (a VEM that reattaches replays its ports); with
// another request it rebinds the interface. A port bound again on the
// same module, even under another interface name, gets its vEth number
// back: the same pre-created port, or without an ID the same MAC.
//
// A request that is malformed is a *spec.ValidationError naming its field
// ("mac", "segment"); one that names what does not exist wraps
// ErrNotFound; one that contradicts the state (a port bound elsewhere, a
// MAC another port has, a module known under another host name) is a
// *ConflictError.
func (s *Store) Bind(host string, module int, iface string, req BindRequest) (Binding, error) {
	if err := checkBind(host, module, iface, &req); err != nil {
		return Binding{}, err
	}
	key := bindKey{module, iface}
	cause := fmt.Sprintf("bind %s on module %d (%s)", iface, module, host)
	_, st, err := s.updateTouched(cause, module, func(next *state) ([]objKey, error) {
		old := next.bindings[key].PortProfile
		veths, err := next.bind(host, key, req)
		if err != nil {
			return nil, err
		}
		touched := append(veths, objKey{bucketBindings, bindingName(module, iface)})
		return append(touched, next.resolveBinding(key, old)...), nil
	})
	if err != nil {
		return Binding{}, err
	}
	return st.bindings[key], nil
}

// Unbind removes the binding of iface on module; its dynamic port
// profile goes with the last binding that used it. The module remembers
// the port's vEth number for a later bind.
func (s *Store) Unbind(module int, iface string) (Result, error) {
	cause := fmt.Sprintf("unbind %s on module %d", iface, module)
	r, _, err := s.updateTouched(cause, module, func(next *state) ([]objKey, error) {
		k := bindKey{module, iface}
		b, ok := next.bindings[k]
		if !ok {
			return nil, fmt.Errorf("%w: no port %s is bound on module %d", ErrNotFound, iface, module)
		}
		delete(next.bindings, k)
		return append(next.resolveBinding(k, b.PortProfile), objKey{bucketBindings, b.Name()}), nil
	})
	return r, err
}

// UnbindModule removes every binding of module: the VEM is gone. Its vEth
// numbers are remembered for when it returns.
func (s *Store) UnbindModule(module int) (Result, error) {
	r, _, err := s.updateTouched(fmt.Sprintf("unbind module %d", module), module, func(next *state) ([]objKey, error) {
		var touched []objKey
		var gone []Binding
		for k, b := range next.bindings {
			if k.module == module {
				delete(next.bindings, k)
				gone = append(gone, b)
			}
		}
		for _, b := range gone {
			touched = append(touched, objKey{bucketBindings, b.Name()})
			touched = append(touched, next.resolveBinding(bindKey{b.Module, b.Interface}, b.PortProfile)...)
		}
		return touched, nil
	})
	return r, err
}

// checkBind checks a bind request on its own, normalising it.
func checkBind(host string, module int, iface string, req *BindRequest) error {
	var problems []spec.Problem
	add := func(field, format string, args ...any) {
		problems = append(problems, spec.Problem{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if host == "" {
		add("host", "required")
	}
	if module < FirstVEMModule {
		add("module", "%d is not a VEM's module number (%d and up)", module, FirstVEMModule)
	}
	if msg := ifaceProblem(iface); msg != "" {
		add("interface", "%s", msg)
	}
	req.ID = strings.ToLower(req.ID)
	req.MAC = strings.ToLower(req.MAC)
	if req.ID != "" {
		if err := netdef.ValidID(req.ID); err != nil {
			add("id", "%v", err)
		}
		if len(req.IPs) > 0 {
			add("ips", "a pre-created port's addresses are its own: bind it by id alone")
		}
	} else {
		if req.MAC == "" {
			add("mac", "required without an id")
		}
		if req.Segment == "" {
			add("segment", "required without an id")
		}
	}
	if req.MAC != "" {
		if _, err := spec.ParseMAC(req.MAC); err != nil {
			add("mac", "%v", err)
		}
	}
	for i, ip := range req.IPs {
		if _, err := spec.ParseAddress(ip); err != nil {
			add(fmt.Sprintf("ips[%d]", i), "%v", err)
		}
	}
	if req.VM != "" && netdef.ValidID(req.VM) != nil {
		add("vm", "%q is not a UUID", req.VM)
	}
	if len(problems) > 0 {
		return &spec.ValidationError{Problems: problems}
	}
	return nil
}

// ifaceProblem checks a Linux interface name as the kernel does.
func ifaceProblem(name string) string {
	switch {
	case name == "":
		return "required"
	case len(name) > 15:
		return fmt.Sprintf("%q is longer than 15 bytes, the limit of a Linux interface name", name)
	case name == "." || name == "..",
		strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '/' || r == ':' }) >= 0:
		return fmt.Sprintf("%q is not a valid interface name", name)
	}
	return ""
}

// bind binds key as req asks in s (resolveBinding then gives it its port
// profile). It returns the remembered vEth numbers it wrote or forgot.
func (s *state) bind(host string, key bindKey, req BindRequest) ([]objKey, error) {
	b := Binding{Module: key.module, Host: host, Interface: key.iface, ID: req.ID, VM: req.VM, MAC: req.MAC,
		Segment: req.Segment, Profile: req.Profile, IPs: slices.Clone(req.IPs)}
	for k, other := range s.bindings {
		if k.module == key.module && other.Host != host {
			return nil, conflict("host", fmt.Sprintf("module %d is host %s, not %s", key.module, other.Host, host))
		}
	}
	if req.ID != "" {
		p, ok := s.ports[req.ID]
		if !ok {
			return nil, fmt.Errorf("%w: id: no port %s", ErrNotFound, req.ID)
		}
		switch {
		case req.MAC != "" && req.MAC != p.MAC:
			return nil, conflict("mac", fmt.Sprintf("%s is not the MAC of port %s, %s", req.MAC, p.ID, p.MAC))
		case req.Segment != "" && req.Segment != p.Segment:
			return nil, conflict("segment", fmt.Sprintf("port %s is in segment %s, not %s", p.ID, p.Segment, req.Segment))
		case req.Profile != "" && req.Profile != p.Profile:
			return nil, conflict("profile", fmt.Sprintf("port %s has the profile %s, not %s", p.ID, p.Profile, req.Profile))
		}
		b.MAC, b.Segment, b.Profile, b.IPs = p.MAC, p.Segment, p.Profile, slices.Clone(p.IPs)
	} else {
		if _, ok := s.segments[req.Segment]; !ok {
			return nil, fmt.Errorf("%w: segment: no segment %s", ErrNotFound, req.Segment)
		}
		if _, ok := s.profiles[req.Profile]; !ok && req.Profile != "" {
			return nil, fmt.Errorf("%w: profile: no profile %s", ErrNotFound, req.Profile)
		}
		for _, p := range s.ports {
			if p.MAC == req.MAC {
				return nil, conflict("mac", fmt.Sprintf("%s is the MAC of the pre-created port %s: bind it by its id", req.MAC, p.ID))
			}
		}
	}
	if old, ok := s.bindings[key]; ok {
		b.Vethernet = old.Vethernet
		b.PortProfile = old.PortProfile
		if old.ID != b.ID || old.MAC != b.MAC {
			b.Vethernet = 0 // another port on the same interface
		}
	}
	count := 0
	for k, other := range s.bindings {
		if k == key {
			continue
		}
		if k.module == key.module {
			count++
		}
		switch {
		case b.ID != "" && other.ID == b.ID:
			return nil, conflict("id", fmt.Sprintf("port %s is bound as Vethernet%d of module %d (%s, %s): unbind it first",
				b.ID, other.Vethernet, other.Module, other.Host, other.Interface))
		case other.MAC == b.MAC && other.Segment == b.Segment:
			return nil, conflict("mac", fmt.Sprintf("%s is the MAC of Vethernet%d of module %d (%s, %s) in segment %s",
				b.MAC, other.Vethernet, other.Module, other.Host, other.Interface, b.Segment))
		}
	}
	if count >= MaxVethernets {
		return nil, conflict("interface", fmt.Sprintf("module %d has %d ports bound, the most one VEM holds", key.module, count))
	}
	if b.Vethernet == 0 {
		b.Vethernet = s.vethernet(key, portIdentity(&b))
	}
	id := portIdentity(&b)
	touched := []objKey{{bucketVeths, strconv.Itoa(key.module) + "/" + id}}
	for _, other := range s.rememberVeth(key.module, id, b.Vethernet) {
		touched = append(touched, objKey{bucketVeths, strconv.Itoa(key.module) + "/" + other})
	}
	s.bindings[key] = b
	return touched, nil
}

// portIdentity is what makes a port the same one when it is bound
// again: its pre-created port's ID, or its MAC.
func portIdentity(b *Binding) string {
	if b.ID != "" {
		return "id:" + b.ID
	}
	return "mac:" + b.MAC
}

// vethernet picks the vEth number of the port id bound as key: the one it
// had on the module if no bound port holds it now, else the lowest that
// is neither bound nor remembered for another port, else (the module
// remembers a number for every one) the lowest that is not bound.
func (s *state) vethernet(key bindKey, id string) int {
	bound := map[int]bool{}
	for k, b := range s.bindings {
		if k.module == key.module && k != key {
			bound[b.Vethernet] = true
		}
	}
	mem := s.veths[key.module]
	if n, ok := mem[id]; ok && !bound[n] {
		return n
	}
	remembered := map[int]bool{}
	for _, n := range mem {
		remembered[n] = true
	}
	for n := 1; ; n++ {
		if !bound[n] && !remembered[n] {
			return n
		}
		if n > MaxVethernets {
			break
		}
	}
	for n := 1; ; n++ {
		if !bound[n] {
			return n
		}
	}
}

// rememberVeth records that id is vEth n on module, forgetting whatever
// other port the module remembered under n; it returns those it forgot.
func (s *state) rememberVeth(module int, id string, n int) []string {
	mem := s.veths[module]
	if mem == nil {
		mem = map[string]int{}
		s.veths[module] = mem
	}
	var forgot []string
	for other, m := range mem {
		if m == n && other != id {
			delete(mem, other)
			forgot = append(forgot, other)
		}
	}
	mem[id] = n
	return forgot
}
