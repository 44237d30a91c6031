package spec

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

// DefaultHeadlessAfter is vsm.headlessAfter when the file sets none: the
// Nexus 1000V's "about 15 s" after the VSM's last heartbeat.
const DefaultHeadlessAfter = 15 * time.Second

// Bounds of vsm.headlessAfter: at least a few missed heartbeats (VSMs
// send one a second), at most a few minutes of forwarding blind.
const (
	MinHeadlessAfter = 2 * time.Second
	MaxHeadlessAfter = 300 * time.Second
)

// MaxDomain is the highest VSM domain ID; domains are 1..MaxDomain.
const MaxDomain = 4095

// VSM is the agent file's vsm: section. Its presence switches the agent
// from standalone to VSM mode: the file then holds only host facts, and
// segments, profiles and ports come from the VSM.
type VSM struct {
	// Domain is the switch's domain ID, 1..MaxDomain; messages of another
	// domain are refused.
	Domain int `yaml:"domain" json:"domain,omitempty"`
	// Addresses are every VSM of the pair, host:port each.
	Addresses []string `yaml:"addresses" json:"addresses,omitempty"`
	// HeadlessAfter is how long the attached VSM may be silent before the
	// agent goes headless; default DefaultHeadlessAfter.
	HeadlessAfter Duration `yaml:"headlessAfter" json:"headlessAfter,omitempty"`
	// TLS names the agent's credentials for mutual TLS with the VSMs.
	TLS *TLS `yaml:"tls" json:"tls,omitempty"`
}

// TLS names PEM files: the CA that signs the VSMs' certificates and this
// host's certificate and key.
type TLS struct {
	CA   string `yaml:"ca" json:"ca,omitempty"`
	Cert string `yaml:"cert" json:"cert,omitempty"`
	Key  string `yaml:"key" json:"key,omitempty"`
}

// HostFacts returns c without its vsm and ovs sections: the host facts
// the agent merges with the VSM's network (and checkpoints).
func (c *Switch) HostFacts() *Switch {
	h := *c
	h.VSM, h.OVS = nil, nil
	h.Segments, h.Profiles, h.Ports = nil, nil, nil
	return &h
}

// applyVSMDefaults fills in vsm.headlessAfter.
func (c *Switch) applyVSMDefaults() {
	if c.VSM != nil && c.VSM.HeadlessAfter == 0 {
		c.VSM.HeadlessAfter = Duration(DefaultHeadlessAfter)
	}
}

// vsm checks the vsm section, and that a file with one lists no
// segments, profiles or ports (they come from the VSM).
func (v *validator) vsm() {
	s := v.c.VSM
	if s == nil {
		return
	}
	for _, f := range []struct {
		name string
		set  bool
	}{{"segments", len(v.c.Segments) > 0}, {"profiles", len(v.c.Profiles) > 0}, {"ports", len(v.c.Ports) > 0}} {
		if f.set {
			v.addf(f.name, "not allowed with vsm: in VSM mode %s come from the VSM; the file holds only host facts", f.name)
		}
	}
	if s.Domain < 1 || s.Domain > MaxDomain {
		v.addf("vsm.domain", "%d is outside 1..%d", s.Domain, MaxDomain)
	}
	if len(s.Addresses) == 0 {
		v.addf("vsm.addresses", "required: every VSM of the pair, host:port")
	}
	seen := map[string]string{}
	for i, a := range s.Addresses {
		p := fmt.Sprintf("vsm.addresses[%d]", i)
		if err := checkHostPort(a); err != nil {
			v.addf(p, "%v", err)
			continue
		}
		v.unique(seen, a, p)
	}
	if d := time.Duration(s.HeadlessAfter); d < MinHeadlessAfter || d > MaxHeadlessAfter {
		v.addf("vsm.headlessAfter", "%s is outside %s..%s", d, MinHeadlessAfter, MaxHeadlessAfter)
	}
	if s.TLS == nil {
		v.addf("vsm.tls", "required: {ca, cert, key}")
		return
	}
	for _, f := range []struct{ name, path string }{{"ca", s.TLS.CA}, {"cert", s.TLS.Cert}, {"key", s.TLS.Key}} {
		if f.path == "" {
			v.addf("vsm.tls."+f.name, "required")
		}
	}
}

// checkHostPort checks a VSM address: a non-empty host and a port 1..65535.
func checkHostPort(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", a, err)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", a)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not 1..65535", a, port)
	}
	return nil
}
