package spec

import (
	"fmt"
	"path/filepath"
	"strings"
)

// DefaultOVSDatabase is ovs.database when the section leaves it out: the
// socket of a packaged Open vSwitch.
const DefaultOVSDatabase = "unix:/run/openvswitch/db.sock"

// OVS is the agent file's ovs: section. Its presence turns on the Open
// vSwitch port source: the agent follows the Interface table of the
// ovsdb-server at Database and binds the interfaces that libvirt (or
// another integration) plugged with an external_ids:iface-id as vEth
// ports (see package agent/ovsport for the external_ids it reads).
type OVS struct {
	// Database is ovsdb-server's address as OVS tools write it:
	// unix:PATH (an absolute path) or tcp:HOST:PORT; default
	// DefaultOVSDatabase.
	Database string `yaml:"database" json:"database,omitempty"`
	// Segment is the segment of an interface whose external_ids name
	// none (vem-segment); empty: such an interface is refused.
	Segment string `yaml:"segment" json:"segment,omitempty"`
	// Profile is the profile of an interface whose external_ids name
	// none (port-profile, libvirt's profileid, or vem-profile); empty:
	// no policy.
	Profile string `yaml:"profile" json:"profile,omitempty"`
}

// applyOVSDefaults fills in ovs.database.
func (c *Switch) applyOVSDefaults() {
	if c.OVS != nil && c.OVS.Database == "" {
		c.OVS.Database = DefaultOVSDatabase
	}
}

// SplitOVSDatabase splits an ovs.database address into the network and
// address net.Dial takes ("unix", PATH or "tcp", HOST:PORT).
func SplitOVSDatabase(db string) (network, address string, err error) {
	method, rest, ok := strings.Cut(db, ":")
	switch {
	case !ok || rest == "":
		return "", "", fmt.Errorf("%q is not unix:PATH or tcp:HOST:PORT", db)
	case method == "unix":
		if !filepath.IsAbs(rest) {
			return "", "", fmt.Errorf("%q: the socket path must be absolute", db)
		}
		if len(rest) > maxSocketPath {
			return "", "", fmt.Errorf("%q: the socket path is longer than %d bytes", db, maxSocketPath)
		}
		return "unix", rest, nil
	case method == "tcp":
		if err := checkHostPort(rest); err != nil {
			return "", "", fmt.Errorf("tcp: %w", err)
		}
		return "tcp", rest, nil
	case method == "ssl":
		return "", "", fmt.Errorf("%q: ssl is not supported; use the local unix socket", db)
	}
	return "", "", fmt.Errorf("%q: unknown connection method %q (want unix or tcp)", db, method)
}

// ovs checks the ovs section. The default segment and profile must exist
// in a standalone file; in VSM mode they come from the VSM, so only their
// form is checked.
func (v *validator) ovs() {
	o := v.c.OVS
	if o == nil {
		return
	}
	if _, _, err := SplitOVSDatabase(o.Database); err != nil {
		v.addf("ovs.database", "%v", err)
	}
	for _, f := range []struct{ field, name, kind string }{{"ovs.segment", o.Segment, "segment"}, {"ovs.profile", o.Profile, "profile"}} {
		if f.name == "" {
			continue
		}
		if strings.TrimSpace(f.name) != f.name || strings.ContainsFunc(f.name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			v.addf(f.field, "%q has surrounding spaces or control characters", f.name)
			continue
		}
		if v.c.VSM != nil {
			continue
		}
		var ok bool
		if f.kind == "segment" {
			_, ok = v.c.Segment(f.name)
		} else {
			_, ok = v.c.Profile(f.name)
		}
		if !ok {
			v.addf(f.field, "no %s named %q", f.kind, f.name)
		}
	}
}
