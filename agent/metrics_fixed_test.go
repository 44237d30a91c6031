package agent

import (
	"strings"
	"testing"

	"github.com/vem-switch/vem/spec"
)

// TestMetricsAddressNeedsRestart: a reload may not move the metrics
// listener (like the socket), unless --metrics-address overrides the file.
func TestMetricsAddressNeedsRestart(t *testing.T) {
	const file = "host: hv1\nsegments: [{name: lab, type: local}]\n"
	parse := func(y string) *spec.Switch {
		sw, err := spec.Parse([]byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return sw
	}
	on := parse(file + "metrics: {address: \"127.0.0.1:9465\"}\n")
	moved := parse(file + "metrics: {address: \"127.0.0.1:9466\"}\n")
	a := &Agent{cfg0: on}
	if err := a.checkFixed(on); err != nil {
		t.Errorf("unchanged address refused: %v", err)
	}
	for _, sw := range []*spec.Switch{moved, parse(file)} {
		if err := a.checkFixed(sw); err == nil || !strings.Contains(err.Error(), "metrics address changed") {
			t.Errorf("address %q after %q: %v, want refused", sw.MetricsAddress(), on.MetricsAddress(), err)
		}
	}
	a.opts.MetricsAddress = "127.0.0.1:9999"
	if err := a.checkFixed(moved); err != nil {
		t.Errorf("with --metrics-address the file's address is ignored, got %v", err)
	}
	if got := a.metricsAddress(); got != "127.0.0.1:9999" {
		t.Errorf("metricsAddress() = %q, want the flag's", got)
	}
}
