package spec_test

import (
	"strings"
	"testing"

	"github.com/vem-switch/vem/spec"
)

// metricsFile is a valid standalone file with a metrics section.
const metricsFile = `host: hv1
segments:
  - {name: lab, type: local}
metrics:
  address: 127.0.0.1:9465
`

func TestParseMetricsSection(t *testing.T) {
	c, err := spec.Parse([]byte(metricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.MetricsAddress(); got != "127.0.0.1:9465" {
		t.Errorf("MetricsAddress() = %q, want 127.0.0.1:9465", got)
	}
	c, err = spec.Parse([]byte(strings.Split(metricsFile, "metrics:")[0]))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.MetricsAddress(); got != "" {
		t.Errorf("without metrics: MetricsAddress() = %q, want none", got)
	}
}

func TestParseMetricsAddresses(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:9465", ":9465", "[::1]:9465", "localhost:9465", "node-1.example:1"} {
		if _, err := spec.Parse([]byte(strings.Replace(metricsFile, "127.0.0.1:9465", `"`+ok+`"`, 1))); err != nil {
			t.Errorf("address %q refused: %v", ok, err)
		}
	}
	for _, tc := range []struct{ addr, want string }{
		{"127.0.0.1", "5: metrics.address: \"127.0.0.1\" is not host:port"},
		{"127.0.0.1:0", "5: metrics.address: \"127.0.0.1:0\": port \"0\" is not 1..65535"},
		{"127.0.0.1:http", "port \"http\" is not 1..65535"},
		{"bad_host!:9465", "host \"bad_host!\" is neither an IP address nor a host name"},
	} {
		_, err := spec.Parse([]byte(strings.Replace(metricsFile, "127.0.0.1:9465", `"`+tc.addr+`"`, 1)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("address %q: error %v, want it to contain %q", tc.addr, err, tc.want)
		}
	}
	if _, err := spec.Parse([]byte(strings.Replace(metricsFile, "address: 127.0.0.1:9465", "adress: x", 1))); err == nil ||
		!strings.Contains(err.Error(), "adress") {
		t.Errorf("misspelt field: error %v, want it named", err)
	}
}
