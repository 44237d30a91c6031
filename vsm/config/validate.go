package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/internal/strict"
)

// Load reads and parses the VSM file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read VSM file: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("VSM file %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes a VSM file strictly (unknown fields are problems),
// applies defaults and validates it. Problems come as one
// *spec.ValidationError, each with its field path and line.
func Parse(data []byte) (*Config, error) {
	var c Config
	lines, err := strict.YAML(data, &c, strict.Options{})
	if err != nil {
		return nil, err
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		if ve, ok := err.(*spec.ValidationError); ok {
			lines.Fill(ve.Problems)
		}
		return nil, err
	}
	return &c, nil
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$`)

// Validate checks a VSM file as ApplyDefaults leaves it and returns a
// *spec.ValidationError listing every problem, or nil.
func (c *Config) Validate() error {
	var ps []spec.Problem
	add := func(field, format string, args ...any) {
		ps = append(ps, spec.Problem{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case c.Name == "":
		add("name", "required")
	case !nameRE.MatchString(c.Name):
		add("name", "%q is not 1..63 of [a-zA-Z0-9._-] beginning with a letter or digit", c.Name)
	}
	switch {
	case c.Domain == 0:
		add("domain", "required: 1..%d", MaxDomain)
	case c.Domain < 1 || c.Domain > MaxDomain:
		add("domain", "%d is outside 1..%d", c.Domain, MaxDomain)
	}
	switch c.Role {
	case RoleStandalone, RolePrimary, RoleSecondary:
	default:
		add("role", "%q is not one of standalone, primary, secondary", c.Role)
	}
	if c.Listen == "" {
		add("listen", "required: the host:port of VEM sessions")
	} else if msg := hostPortProblem(c.Listen); msg != "" {
		add("listen", "%s", msg)
	}
	if msg := hostPortProblem(c.API); msg != "" {
		add("api", "%s", msg)
	} else if !loopback(c.API) {
		add("api", "%s is not a loopback address: the northbound API is plain HTTP, so it listens on 127.0.0.1 or ::1", c.API)
	}
	switch {
	case c.Role.Paired() && c.Control == nil:
		add("control", "required: a %s VSM heartbeats its peer over it", c.Role)
	case !c.Role.Paired() && c.Control != nil:
		add("control", "only a primary or secondary VSM has a peer, not a %s one", c.Role)
	case c.Control != nil:
		c.Control.validate("control", add)
	}
	switch {
	case !c.Role.Paired() && c.Management != nil:
		add("management", "only a primary or secondary VSM has a peer, not a %s one", c.Role)
	case c.Management != nil:
		c.Management.validate("management", add)
	}
	if d := time.Duration(c.HeartbeatLossInterval); d < MinHeartbeatLossInterval || d > MaxHeartbeatLossInterval {
		add("heartbeatLossInterval", "%s is outside %s..%s", d, MinHeartbeatLossInterval, MaxHeartbeatLossInterval)
	}
	if !filepath.IsAbs(c.DataDir) {
		add("dataDir", "%q is not an absolute path", c.DataDir)
	}
	if c.TLS != nil {
		for _, f := range []struct{ name, path string }{{"ca", c.TLS.CA}, {"cert", c.TLS.Cert}, {"key", c.TLS.Key}} {
			switch {
			case f.path == "":
				add("tls."+f.name, "required: a PEM file")
			case !filepath.IsAbs(f.path):
				add("tls."+f.name, "%q is not an absolute path", f.path)
			}
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return &spec.ValidationError{Problems: ps}
}

func (l *Link) validate(field string, add func(field, format string, args ...any)) {
	if l.Address == "" {
		add(field+".address", "required: this VSM's host:port")
	} else if msg := hostPortProblem(l.Address); msg != "" {
		add(field+".address", "%s", msg)
	}
	if l.Peer == "" {
		add(field+".peer", "required: the peer VSM's host:port")
	} else if msg := hostPortProblem(l.Peer); msg != "" {
		add(field+".peer", "%s", msg)
	}
	if l.Address != "" && l.Address == l.Peer {
		add(field+".peer", "%s is this VSM's own address", l.Peer)
	}
}

// hostPortProblem checks an IP address and port ("203.0.113.1:7443",
// "[2001:db8::1]:7443"); it returns what is wrong, or "".
func hostPortProblem(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", s)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Sprintf("%q: %q is not an IP address", s, host)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Sprintf("%q: port %q is not 1..65535", s, port)
	}
	return ""
}

func loopback(s string) bool {
	host, _, _ := net.SplitHostPort(s)
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
