package spec

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
)

// hostnameRE is a DNS host name: dot-separated labels of letters, digits
// and inner hyphens.
var hostnameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$`)

// Metrics is the agent file's metrics: section: where the agent serves
// Prometheus metrics. A file without it, or with an empty address, serves
// none.
type Metrics struct {
	// Address is host:port to listen on for GET /metrics, e.g.
	// 127.0.0.1:9465; an empty host listens on every address.
	Address string `yaml:"address" json:"address,omitempty"`
}

// MetricsAddress returns the address metrics are served on, "" for none.
func (c *Switch) MetricsAddress() string {
	if c.Metrics == nil {
		return ""
	}
	return c.Metrics.Address
}

// metrics checks the metrics section's address.
func (v *validator) metrics() {
	if a := v.c.MetricsAddress(); a != "" {
		if err := CheckListenAddress(a); err != nil {
			v.addf("metrics.address", "%v", err)
		}
	}
}

// CheckListenAddress checks an address to listen on: host:port with a
// port 1..65535, the host an IP address, a name or empty (every address).
func CheckListenAddress(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", a, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not 1..65535", a, port)
	}
	if host != "" && net.ParseIP(host) == nil && !hostnameRE.MatchString(host) {
		return fmt.Errorf("%q: host %q is neither an IP address nor a host name", a, host)
	}
	return nil
}
