package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/test/frame"
	"github.com/vem-switch/vem/test/topo"
)

// metricsAddr is where the agent under test serves metrics: loopback of
// the host namespace, so concurrent tests never collide.
const metricsAddr = "127.0.0.1:9465"

// scrape is one GET /metrics: the body, its families and how long it took.
type scrape struct {
	body     []byte
	families map[string]*dto.MetricFamily
	took     time.Duration
}

// scrapeMetrics fetches /metrics from addr inside ns.
func scrapeMetrics(t *testing.T, ns *topo.NS, addr string) scrape {
	t.Helper()
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			var c net.Conn
			err := ns.Do(func() (err error) {
				c, err = (&net.Dialer{}).DialContext(ctx, network, a)
				return err
			})
			return c, err
		},
		DisableKeepAlives: true,
	}}
	start := time.Now()
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %v %v\n%s", resp.Status, err, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse scrape: %v\n%s", err, body)
	}
	return scrape{body: body, families: mfs, took: took}
}

// value returns the sample of family name whose labels include want, and
// whether there is one.
func (s scrape) value(name string, want map[string]string) (float64, bool) {
	mf := s.families[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// must is value, failing the test when the sample is missing.
func (s scrape) must(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	v, ok := s.value(name, want)
	if !ok {
		t.Fatalf("no sample %s%v in the scrape", name, want)
	}
	return v
}

// lint checks a scrape as promtool does: with client_golang's linter
// (promtool's checks) and, since scripts/deps.sh installs it, with
// promtool itself.
func (s scrape) lint(t *testing.T) {
	t.Helper()
	problems, err := testutil.GatherAndLint(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		out := make([]*dto.MetricFamily, 0, len(s.families))
		for _, mf := range s.families {
			out = append(out, mf)
		}
		return out, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Errorf("promtool not installed (scripts/deps.sh test installs Debian's prometheus): %v", err)
		return
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(s.body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestMetricsDuringTraffic scrapes /metrics while VMs ping each other and
// checks what the traffic implies: packet counters grow by at least the
// pings, a spoofed frame is counted under its reason, the MAC table holds
// the port-secured VMs' static entries, the engine is current and has
// applied and resynced; a file the engine refuses counts as an apply
// error while the engine stays current. Every scrape passes promtool.
func TestMetricsDuringTraffic(t *testing.T) {
	h := newHost(t)
	// Metrics from the file's metrics: section; a short resync so that
	// resyncs are seen within the test.
	h.stopAgent()
	h.extra = fmt.Sprintf("metrics: {address: %q}\n", metricsAddr)
	h.writeConfig()
	h.startAgent("--resync-interval", "300ms")

	names := portNames(t, h.vemHost)
	p1, p2 := names[h.vms["vm1"].tap], names[h.vms["vm2"].tap]
	before := scrapeMetrics(t, h.host, metricsAddr)
	before.lint(t)
	t.Logf("scrape: %d bytes, %d families, %s", len(before.body), len(before.families), before.took)

	// 100 pings at 20 ms, scraping all the while.
	const pings = 100
	type result struct {
		res topo.PingResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := h.vms["vm1"].ns.Ping(ctx, "192.0.2.2", pings, 20*time.Millisecond)
		done <- result{res, err}
	}()
	var slowest time.Duration
	var slowestBy string // its sources' read times
	scrapes := 0
	for waiting := true; waiting; {
		select {
		case r := <-done:
			waiting = false
			if r.err != nil || r.res.Received != pings {
				t.Fatalf("ping vm1 -> vm2 while scraping: %d of %d replies (%v)", r.res.Received, r.res.Sent, r.err)
			}
		default:
			s := scrapeMetrics(t, h.host, metricsAddr)
			if s.took > slowest {
				slowest = s.took
				var per []string
				for _, src := range []string{"ports", "counters", "mac-table", "vteps", "port-channels", "lacp", "dpa"} {
					v, _ := s.value("vem_metrics_source_duration_seconds", map[string]string{"source": src})
					per = append(per, fmt.Sprintf("%s %.1fms", src, v*1000))
				}
				slowestBy = strings.Join(per, ", ")
			}
			scrapes++
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("%d scrapes during %d pings, none lost; slowest scrape %s (%s)", scrapes, pings, slowest, slowestBy)
	if scrapes < 2 {
		t.Errorf("only %d scrapes during the pings", scrapes)
	}

	// A frame from vm1 with vm2's source MAC: dropped, counted.
	s1 := h.sock(h.vms["vm1"].ns, "eth0")
	spoofed := h.vms["vm2"].mac
	for range 3 {
		if err := s1.Send(frame.Ethernet(broadcast, spoofed, 0x88b5, marker("metrics-spoof"))); err != nil {
			t.Fatal(err)
		}
	}
	var after scrape
	waitFor(t, 5*time.Second, "spoofed frames counted and a resync seen", func() bool {
		after = scrapeMetrics(t, h.host, metricsAddr)
		v, _ := after.value("vem_port_drops_total", map[string]string{"port": p1, "reason": "spoofed-source"})
		b, _ := before.value("vem_port_drops_total", map[string]string{"port": p1, "reason": "spoofed-source"})
		r, _ := after.value("vem_reconcile_duration_seconds", map[string]string{"operation": "resync"})
		return v-b >= 3 && r > 0
	})
	after.lint(t)

	// The pings: vm1's echo requests came in on its port and its replies
	// went out of it; the reverse on vm2's.
	for _, c := range []struct{ port, name string }{
		{p1, "vem_port_receive_packets_total"}, {p1, "vem_port_transmit_packets_total"},
		{p2, "vem_port_receive_packets_total"}, {p2, "vem_port_transmit_packets_total"},
	} {
		if d := after.must(t, c.name, "port", c.port) - before.must(t, c.name, "port", c.port); d < pings {
			t.Errorf("%s{port=%q} grew by %v, want at least %d (the pings)", c.name, c.port, d, pings)
		}
	}
	// At least 84 bytes an ICMP echo (20 IP + 8 ICMP + 56 data) plus 14 of Ethernet.
	if d := after.must(t, "vem_port_receive_bytes_total", "port", p1) - before.must(t, "vem_port_receive_bytes_total", "port", p1); d < pings*98 {
		t.Errorf("vem_port_receive_bytes_total{port=%q} grew by %v, want at least %d", p1, d, pings*98)
	}
	// The scrape agrees with vemctl.
	c1 := h.counters(h.vms["vm1"].tap)
	if got := after.must(t, "vem_port_drops_total", "port", p1, "reason", "spoofed-source"); got != float64(c1.Drops["spoofed-source"]) {
		t.Errorf("spoofed-source drops: scrape %v, vemctl %d", got, c1.Drops["spoofed-source"])
	}
	if got := after.must(t, "vem_port_receive_packets_total", "port", p1); got > float64(c1.RxPackets) {
		t.Errorf("vm1 receive packets: scrape %v after vemctl's %d", got, c1.RxPackets)
	}

	// Port names resolve to interfaces as vemctl shows them; the five
	// vEths and the uplink are up.
	for _, v := range []string{"vm1", "vm2", "vm3"} {
		tap := h.vms[v].tap
		if got := after.must(t, "vem_port_info", "port", names[tap], "interface", tap, "kind", "veth", "segment", h.vms[v].seg); got != 1 {
			t.Errorf("vem_port_info for %s = %v", tap, got)
		}
	}
	if got := after.must(t, "vem_ports", "state", "up"); got != 6 {
		t.Errorf("vem_ports{state=up} = %v, want 6 (five vEths and uplink0)", got)
	}

	// The table holds web's secure VMs (vm1, vm2) as static entries, and
	// db's and mgmt's one each; the open vm4 learns none it has not sent.
	for seg, n := range map[string]float64{"web": 2, "db": 1, "mgmt": 1} {
		if got := after.must(t, "vem_mac_table_entries", "segment", seg, "type", "static"); got != n {
			t.Errorf("static MACs in %s: %v, want %v", seg, got, n)
		}
	}
	// Standalone: no VSM, attached to its file; the engine current, one
	// apply at least and resyncs.
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"vem_dpa_vsm_mode", nil, 0},
		{"vem_dpa_state", []string{"state", "attached"}, 1},
		{"vem_dpa_headless_seconds", nil, 0},
		{"vem_engine_state", []string{"state", "current"}, 1},
		{"vem_reconcile_errors_total", []string{"operation", "apply"}, 0},
		{"vem_vxlan_remote_vteps", nil, 0},
	} {
		if got := after.must(t, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := after.must(t, "vem_reconcile_duration_seconds", "operation", "apply"); got < 1 {
		t.Errorf("%v applies recorded, want at least the start's", got)
	}
	for _, src := range []string{"ports", "counters", "mac-table", "vteps", "port-channels", "lacp", "dpa"} {
		if got := after.must(t, "vem_metrics_source_up", "source", src); got != 1 {
			t.Errorf("source %s down in the scrape", src)
		}
	}
	// A file the engine refuses (the loopback as a vEth): counted as an
	// apply error, and the engine stays current on the running state.
	applyErrs := after.must(t, "vem_reconcile_errors_total", "operation", "apply")
	h.extra = "  - {interface: lo, mac: \"52:54:00:00:00:99\", segment: web}\n" + h.extra
	h.writeConfig()
	var refused scrape
	waitFor(t, 5*time.Second, "the refused file counted as an apply error", func() bool {
		refused = scrapeMetrics(t, h.host, metricsAddr)
		v, _ := refused.value("vem_reconcile_errors_total", map[string]string{"operation": "apply"})
		return v > applyErrs
	})
	if got := refused.must(t, "vem_engine_state", "state", "current"); got != 1 {
		t.Errorf("engine not current after a refused file: %v", got)
	}
	h.ping("vm1", "192.0.2.2", 2, true) // the running state forwards

	if !strings.Contains(string(after.body), "go_goroutines") || !strings.Contains(string(after.body), "process_resident_memory_bytes") {
		t.Error("the runtime's and the process's metrics are missing")
	}
}

// TestMetricsAddressFlag: --metrics-address serves metrics for a file
// without a metrics: section, and a busy address stops the agent with an
// error that names it.
func TestMetricsAddressFlag(t *testing.T) {
	h := newHost(t)
	h.stopAgent()
	h.startAgent("--metrics-address", "127.0.0.1:9466")
	s := scrapeMetrics(t, h.host, "127.0.0.1:9466")
	if got := s.must(t, "vem_engine_state", "state", "current"); got != 1 {
		t.Errorf("engine state current = %v", got)
	}
	// A second agent of another instance in the same namespace cannot
	// take the address.
	other := newVemHost(t, h.topo, h.host)
	other.writeConfig(fmt.Sprintf("host: hv2\ninstance: %s\nsocket: %s\nsegments:\n  - {name: lab, type: local}\nmetrics: {address: \"127.0.0.1:9466\"}\n",
		other.instance+"_b", other.socket))
	other.instance += "_b"
	p, err := h.host.StartNetOnly(agentBin, "--config", other.cfgPath, "--state-dir", other.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
		if out := p.Output(); !strings.Contains(out, "metrics: listen on 127.0.0.1:9466") {
			t.Errorf("second agent's output does not name the busy address:\n%s", out)
		}
	case <-time.After(10 * time.Second):
		p.Stop()
		t.Fatalf("an agent whose metrics address is taken kept running:\n%s", p.Output())
	}
}

// portNames maps interfaces to port names (Vethernet1..n, uplinks).
func portNames(t *testing.T, h *vemHost) map[string]string {
	t.Helper()
	out, err := h.vemctl("show", "ports", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var ports []api.Port
	if err := json.Unmarshal([]byte(out), &ports); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, p := range ports {
		names[p.Interface] = p.Name
	}
	return names
}

// TestMetricsVSMMode: an agent following a real VSM exports the session
// (attached, module 3, the VSM active with a fresh heartbeat); when the
// VSM dies it reports headless, the headless time and the heartbeat's
// age growing.
func TestMetricsVSMMode(t *testing.T) {
	topo.RequireRoot(t)
	tp := topo.ForTest(t)
	host, err := tp.NS("host")
	if err != nil {
		t.Fatal(err)
	}
	h := newVemHost(t, tp, host)
	sw, err := tp.NS("sw")
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.Veth(host, "uplink0", sw, "sw0"); err != nil {
		t.Fatal(err)
	}
	v := newVSM(t, tp, host)
	v.start()
	h.writeConfig(fmt.Sprintf(`host: hv1
instance: %s
socket: %s
uplink: uplink0
metrics: {address: %q}
vsm:
  domain: 100
  addresses: [%s]
  headlessAfter: 2s
  tls: {ca: %s, cert: %s, key: %s}
`, h.instance, h.socket, metricsAddr, vsmListen, v.file("ca.pem"), v.file("hv1.pem"), v.file("hv1-key.pem")))
	h.startAgent()
	vsm := map[string]string{"vsm": vsmListen}
	var s scrape
	waitFor(t, 10*time.Second, "attached to the VSM in the metrics", func() bool {
		s = scrapeMetrics(t, host, metricsAddr)
		a, _ := s.value("vem_dpa_state", map[string]string{"state": "attached"})
		act, _ := s.value("vem_dpa_vsm_state", map[string]string{"vsm": vsmListen, "state": "active"})
		return a == 1 && act == 1
	})
	s.lint(t)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"vem_dpa_vsm_mode", nil, 1}, {"vem_dpa_module", nil, 3}, {"vem_dpa_state", []string{"state", "headless"}, 0},
		{"vem_dpa_headless_seconds", nil, 0}, {"vem_dpa_headless_entries_total", nil, 0},
	} {
		if got := s.must(t, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	age, _ := s.value("vem_dpa_vsm_heartbeat_age_seconds", vsm)
	if age > 3 {
		t.Errorf("heartbeat age %v s while attached, VSMs beat every second", age)
	}

	if err := v.proc.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	waitFor(t, 10*time.Second, "headless in the metrics", func() bool {
		s = scrapeMetrics(t, host, metricsAddr)
		hl, _ := s.value("vem_dpa_state", map[string]string{"state": "headless"})
		return hl == 1
	})
	t.Logf("headless %v after the VSM was killed (headlessAfter 2s)", time.Since(killed).Round(10*time.Millisecond))
	time.Sleep(1500 * time.Millisecond)
	later := scrapeMetrics(t, host, metricsAddr)
	later.lint(t)
	spell := later.must(t, "vem_dpa_headless_seconds")
	if spell < 1 || spell > time.Since(killed).Seconds() {
		t.Errorf("headless for %v s, want between 1 s and the %v since the kill", spell, time.Since(killed))
	}
	if total := later.must(t, "vem_dpa_headless_seconds_total"); total < spell-0.01 {
		t.Errorf("headless total %v s below the current spell %v s", total, spell)
	}
	if got := later.must(t, "vem_dpa_headless_entries_total"); got != 1 {
		t.Errorf("headless entries %v, want 1", got)
	}
	if a, ok := later.value("vem_dpa_vsm_heartbeat_age_seconds", vsm); !ok || a < 2 {
		t.Errorf("heartbeat age %v (%v) after the VSM died, want at least headlessAfter", a, ok)
	}
}
