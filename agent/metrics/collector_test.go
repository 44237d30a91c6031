package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vem-switch/vem/agent/api"
)

// fakeSource is a Source with fixed answers; err fails the named source.
type fakeSource struct {
	ports    []api.Port
	counters []api.Counters
	macs     []api.MACEntry
	vteps    api.VTEPs
	pcs      []api.PortChannel
	lacp     []api.LACPCounters
	dpa      api.DPA
	fail     string
}

func (f *fakeSource) failing(name string) error {
	if f.fail == name {
		return errors.New("injected failure")
	}
	return nil
}

func (f *fakeSource) Ports(context.Context) ([]api.Port, error) {
	return f.ports, f.failing(sourcePorts)
}
func (f *fakeSource) Counters(context.Context, string) ([]api.Counters, error) {
	return f.counters, f.failing(sourceCounters)
}
func (f *fakeSource) MACTable(context.Context, string) ([]api.MACEntry, error) {
	return f.macs, f.failing(sourceMACTable)
}
func (f *fakeSource) VTEPs(context.Context) (api.VTEPs, error) {
	return f.vteps, f.failing(sourceVTEPs)
}
func (f *fakeSource) PortChannels(context.Context) ([]api.PortChannel, error) {
	return f.pcs, f.failing(sourcePortChannels)
}
func (f *fakeSource) LACPCounters(context.Context) ([]api.LACPCounters, error) {
	return f.lacp, f.failing(sourceLACP)
}
func (f *fakeSource) DPA(context.Context) (api.DPA, error) { return f.dpa, f.failing(sourceDPA) }

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// vsmHost is a host in VSM mode, headless for 20 s, with a VXLAN segment,
// an LACP bundle and traffic.
func vsmHost() *fakeSource {
	since := t0.Add(-20 * time.Second)
	return &fakeSource{
		ports: []api.Port{
			{Name: "Vethernet1", Interface: "tap-a", Kind: "veth", Segment: "web", Profile: "default", State: "up"},
			{Name: "Vethernet2", Interface: "tap-b", Kind: "veth", Segment: "web", State: "down"},
			{Name: "--", Interface: "tap-c", Kind: "veth", Segment: "web", State: "absent"},
			{Name: "eth1", Interface: "eth1", Kind: "uplink", State: "up"},
		},
		counters: []api.Counters{
			{Port: "Vethernet1", RxPackets: 10, RxBytes: 980, TxPackets: 8, TxBytes: 784,
				Drops: map[string]uint64{"spoofed-source": 3, "storm": 1}},
			{Port: "eth1", RxPackets: 100, RxBytes: 15000, TxPackets: 90, TxBytes: 9000, Drops: map[string]uint64{}},
			{Port: "unattributed", Drops: map[string]uint64{"unknown-port": 2}},
		},
		macs: []api.MACEntry{
			{Segment: "web", MAC: "52:54:00:00:00:0a", Static: true},
			{Segment: "web", MAC: "52:54:00:00:00:0b"},
			{Segment: "web", MAC: "52:54:00:00:00:0c"},
			{Segment: "db", MAC: "52:54:00:00:00:0d", Remote: true, VTEP: "198.51.100.2"},
		},
		vteps: api.VTEPs{Local: "198.51.100.1", Port: 4789, Remote: []api.RemoteVTEP{
			{Address: "198.51.100.2", NextHop: "198.51.100.2", Interface: "eth1", MACs: 1},
			{Address: "198.51.100.3"},
		}},
		pcs: []api.PortChannel{{Name: "po1", Mode: "lacp-active", Up: true, Members: []api.PortChannelMember{
			{Interface: "eth1", Status: "bundled", Active: true},
			{Interface: "eth2", Status: "waiting"},
		}}},
		lacp: []api.LACPCounters{{PortChannel: "po1", Interface: "eth1", PDUsRx: 5, PDUsTx: 6, MalformedRx: 1}},
		dpa: api.DPA{
			Mode: "vsm", State: "headless", Epoch: 2, Module: 3, Generation: 7, HeadlessSince: &since, QueuedPortEvents: 1,
			VSMs: []api.DPAVSM{
				{Name: "vsm-a", Address: "203.0.113.1:7443", State: "unreachable", LastHeartbeatAgeMs: 21500},
				{Address: "203.0.113.2:7443", State: "unreachable", LastHeartbeatAgeMs: -1},
			},
			Counters: api.DPACounters{HeartbeatsMissed: 4, HeartbeatsIgnored: 2, SwitchRequestsAccepted: 1,
				SwitchRequestsIgnored: 3, HeadlessEntries: 1, HeadlessMs: 20000, ConfigsApplied: 5, ConfigsRefused: 1,
				ApplyErrors: 1, CheckpointErrors: 0, Restarts: 0},
		},
	}
}

const wantPorts = `
# HELP vem_port_info A port the datapath switches, 1: its name (the port label of the other vem_port_ metrics), interface, kind (veth or uplink), segment and profile.
# TYPE vem_port_info gauge
vem_port_info{interface="eth1",kind="uplink",port="eth1",profile="",segment=""} 1
vem_port_info{interface="tap-a",kind="veth",port="Vethernet1",profile="default",segment="web"} 1
vem_port_info{interface="tap-b",kind="veth",port="Vethernet2",profile="",segment="web"} 1
# HELP vem_ports Ports by state: up, down (admin down), absent (a vEth whose interface is gone: its VM stopped), orphaned (a vEth whose segment or profile left the configuration).
# TYPE vem_ports gauge
vem_ports{state="absent"} 1
vem_ports{state="down"} 1
vem_ports{state="orphaned"} 0
vem_ports{state="up"} 2
# HELP vem_port_drops_total Frames the datapath dropped on a port, by reason (a reason appears once it has counted a frame; port "unattributed" is interfaces vem no longer knows).
# TYPE vem_port_drops_total counter
vem_port_drops_total{port="Vethernet1",reason="spoofed-source"} 3
vem_port_drops_total{port="Vethernet1",reason="storm"} 1
vem_port_drops_total{port="unattributed",reason="unknown-port"} 2
# HELP vem_port_receive_bytes_total Bytes the switch received on a port.
# TYPE vem_port_receive_bytes_total counter
vem_port_receive_bytes_total{port="Vethernet1"} 980
vem_port_receive_bytes_total{port="eth1"} 15000
# HELP vem_port_receive_packets_total Frames the switch received on a port.
# TYPE vem_port_receive_packets_total counter
vem_port_receive_packets_total{port="Vethernet1"} 10
vem_port_receive_packets_total{port="eth1"} 100
# HELP vem_port_transmit_packets_total Frames the switch sent out of a port.
# TYPE vem_port_transmit_packets_total counter
vem_port_transmit_packets_total{port="Vethernet1"} 8
vem_port_transmit_packets_total{port="eth1"} 90
`

const wantMACsAndVTEPs = `
# HELP vem_mac_table_entries MAC table entries by segment and type: static (a port-secured vEth's own MAC), learned (on a local port or the uplink) and remote (behind a VXLAN VTEP or from the VSM).
# TYPE vem_mac_table_entries gauge
vem_mac_table_entries{segment="db",type="learned"} 0
vem_mac_table_entries{segment="db",type="remote"} 1
vem_mac_table_entries{segment="db",type="static"} 0
vem_mac_table_entries{segment="web",type="learned"} 2
vem_mac_table_entries{segment="web",type="remote"} 0
vem_mac_table_entries{segment="web",type="static"} 1
# HELP vem_vxlan_remote_vteps Remote VXLAN tunnel endpoints the bridge domains replicate to.
# TYPE vem_vxlan_remote_vteps gauge
vem_vxlan_remote_vteps 2
# HELP vem_vxlan_vtep_next_hop_resolved Whether the underlay has a route and next hop to a remote VTEP (1) or not (0).
# TYPE vem_vxlan_vtep_next_hop_resolved gauge
vem_vxlan_vtep_next_hop_resolved{vtep="198.51.100.2"} 1
vem_vxlan_vtep_next_hop_resolved{vtep="198.51.100.3"} 0
# HELP vem_vxlan_vtep_mac_entries MACs learned behind a remote VTEP.
# TYPE vem_vxlan_vtep_mac_entries gauge
vem_vxlan_vtep_mac_entries{vtep="198.51.100.2"} 1
vem_vxlan_vtep_mac_entries{vtep="198.51.100.3"} 0
`

const wantChannel = `
# HELP vem_port_channel_up Whether a port-channel is up (at least its minLinks members forward).
# TYPE vem_port_channel_up gauge
vem_port_channel_up{port_channel="po1"} 1
# HELP vem_port_channel_member_active Whether frames leave on a port-channel member (mac-pinning: vEths are pinned to it).
# TYPE vem_port_channel_member_active gauge
vem_port_channel_member_active{interface="eth1",port_channel="po1"} 1
vem_port_channel_member_active{interface="eth2",port_channel="po1"} 0
# HELP vem_port_channel_member_state A port-channel member's state, 1 for the current one: bundled, standby, individual, down or waiting (LACP modes), operational or link-down (static, mac-pinning).
# TYPE vem_port_channel_member_state gauge
vem_port_channel_member_state{interface="eth1",port_channel="po1",state="bundled"} 1
vem_port_channel_member_state{interface="eth1",port_channel="po1",state="down"} 0
vem_port_channel_member_state{interface="eth1",port_channel="po1",state="individual"} 0
vem_port_channel_member_state{interface="eth1",port_channel="po1",state="standby"} 0
vem_port_channel_member_state{interface="eth1",port_channel="po1",state="waiting"} 0
vem_port_channel_member_state{interface="eth2",port_channel="po1",state="bundled"} 0
vem_port_channel_member_state{interface="eth2",port_channel="po1",state="down"} 0
vem_port_channel_member_state{interface="eth2",port_channel="po1",state="individual"} 0
vem_port_channel_member_state{interface="eth2",port_channel="po1",state="standby"} 0
vem_port_channel_member_state{interface="eth2",port_channel="po1",state="waiting"} 1
# HELP vem_lacp_pdus_received_total LACPDUs received on a port-channel member.
# TYPE vem_lacp_pdus_received_total counter
vem_lacp_pdus_received_total{interface="eth1",port_channel="po1"} 5
# HELP vem_lacp_malformed_pdus_received_total Malformed LACPDUs received on a port-channel member.
# TYPE vem_lacp_malformed_pdus_received_total counter
vem_lacp_malformed_pdus_received_total{interface="eth1",port_channel="po1"} 1
`

const wantDPA = `
# HELP vem_dpa_vsm_mode Whether the agent follows a VSM (1) or runs standalone on its file (0).
# TYPE vem_dpa_vsm_mode gauge
vem_dpa_vsm_mode 1
# HELP vem_dpa_state The Data Path Agent's state, 1 for the current one: connecting, attached or headless.
# TYPE vem_dpa_state gauge
vem_dpa_state{state="attached"} 0
vem_dpa_state{state="connecting"} 0
vem_dpa_state{state="headless"} 1
# HELP vem_dpa_module Module number the VSM gave this host (3 and up; 0 before the first attach).
# TYPE vem_dpa_module gauge
vem_dpa_module 3
# HELP vem_dpa_vsm_heartbeat_age_seconds Time since a VSM's last heartbeat (absent while none was heard).
# TYPE vem_dpa_vsm_heartbeat_age_seconds gauge
vem_dpa_vsm_heartbeat_age_seconds{vsm="203.0.113.1:7443"} 21.5
# HELP vem_dpa_headless_seconds Time since the agent went headless, 0 while it is not.
# TYPE vem_dpa_headless_seconds gauge
vem_dpa_headless_seconds 20
# HELP vem_dpa_headless_seconds_total Time the agent spent headless since it started, the current spell included.
# TYPE vem_dpa_headless_seconds_total counter
vem_dpa_headless_seconds_total 20
# HELP vem_dpa_heartbeats_missed_total Heartbeats of the attached VSM that did not come in time.
# TYPE vem_dpa_heartbeats_missed_total counter
vem_dpa_heartbeats_missed_total 4
# HELP vem_dpa_switch_requests_total Switch requests from VSMs, by result: accepted or ignored.
# TYPE vem_dpa_switch_requests_total counter
vem_dpa_switch_requests_total{result="accepted"} 1
vem_dpa_switch_requests_total{result="ignored"} 3
# HELP vem_dpa_configs_total Configurations from the VSM, by result: applied or refused.
# TYPE vem_dpa_configs_total counter
vem_dpa_configs_total{result="applied"} 5
vem_dpa_configs_total{result="refused"} 1
`

func TestCollectorValues(t *testing.T) {
	c := NewCollector(vsmHost(), nil).WithClock(func() time.Time { return t0 })
	for _, tc := range []struct {
		name, want string
		families   []string
	}{
		{"ports", wantPorts, []string{"vem_port_info", "vem_ports", "vem_port_drops_total", "vem_port_receive_bytes_total",
			"vem_port_receive_packets_total", "vem_port_transmit_packets_total"}},
		{"MACs and VTEPs", wantMACsAndVTEPs, []string{"vem_mac_table_entries", "vem_vxlan_remote_vteps",
			"vem_vxlan_vtep_next_hop_resolved", "vem_vxlan_vtep_mac_entries"}},
		{"port-channel", wantChannel, []string{"vem_port_channel_up", "vem_port_channel_member_active",
			"vem_port_channel_member_state", "vem_lacp_pdus_received_total", "vem_lacp_malformed_pdus_received_total"}},
		{"DPA", wantDPA, []string{"vem_dpa_vsm_mode", "vem_dpa_state", "vem_dpa_module", "vem_dpa_vsm_heartbeat_age_seconds",
			"vem_dpa_headless_seconds", "vem_dpa_headless_seconds_total", "vem_dpa_heartbeats_missed_total",
			"vem_dpa_switch_requests_total", "vem_dpa_configs_total"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := testutil.CollectAndCompare(c, strings.NewReader(tc.want), tc.families...); err != nil {
				t.Error(err)
			}
		})
	}
}

// A standalone agent: no VSM, no port-channel, DPA attached and never
// headless; the unattributed pseudo-port has no packet counters.
func TestCollectorStandalone(t *testing.T) {
	src := &fakeSource{
		counters: []api.Counters{{Port: "Vethernet1", RxPackets: 1, Drops: map[string]uint64{}}},
		vteps:    api.VTEPs{Remote: []api.RemoteVTEP{}},
		pcs:      []api.PortChannel{},
		dpa:      api.DPA{Mode: "standalone", State: "attached", VSMs: []api.DPAVSM{}},
	}
	c := NewCollector(src, nil)
	want := `
# HELP vem_dpa_vsm_mode Whether the agent follows a VSM (1) or runs standalone on its file (0).
# TYPE vem_dpa_vsm_mode gauge
vem_dpa_vsm_mode 0
# HELP vem_dpa_headless_seconds Time since the agent went headless, 0 while it is not.
# TYPE vem_dpa_headless_seconds gauge
vem_dpa_headless_seconds 0
# HELP vem_vxlan_remote_vteps Remote VXLAN tunnel endpoints the bridge domains replicate to.
# TYPE vem_vxlan_remote_vteps gauge
vem_vxlan_remote_vteps 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "vem_dpa_vsm_mode", "vem_dpa_headless_seconds",
		"vem_vxlan_remote_vteps", "vem_port_channel_up", "vem_dpa_vsm_heartbeat_age_seconds", "vem_port_drops_total"); err != nil {
		t.Error(err)
	}
}

// A mac-pinning member's "Link Down" is a label value, and a status the
// collector does not know still shows as the current one.
func TestCollectorMemberStates(t *testing.T) {
	src := vsmHost()
	src.pcs = []api.PortChannel{{Name: "po2", Mode: "mac-pinning", Members: []api.PortChannelMember{
		{Interface: "eth3", Status: "Link Down"}, {Interface: "eth4", Status: "Sleeping", Active: true},
	}}}
	want := `
# HELP vem_port_channel_member_state A port-channel member's state, 1 for the current one: bundled, standby, individual, down or waiting (LACP modes), operational or link-down (static, mac-pinning).
# TYPE vem_port_channel_member_state gauge
vem_port_channel_member_state{interface="eth3",port_channel="po2",state="link-down"} 1
vem_port_channel_member_state{interface="eth3",port_channel="po2",state="operational"} 0
vem_port_channel_member_state{interface="eth4",port_channel="po2",state="link-down"} 0
vem_port_channel_member_state{interface="eth4",port_channel="po2",state="operational"} 0
vem_port_channel_member_state{interface="eth4",port_channel="po2",state="sleeping"} 1
`
	if err := testutil.CollectAndCompare(NewCollector(src, nil), strings.NewReader(want), "vem_port_channel_member_state"); err != nil {
		t.Error(err)
	}
}

// A failing source costs its own metrics only, and says so.
func TestCollectorSourceDown(t *testing.T) {
	for _, name := range sources {
		t.Run(name, func(t *testing.T) {
			src := vsmHost()
			src.fail = name
			c := NewCollector(src, nil)
			var want strings.Builder
			want.WriteString("# HELP vem_metrics_source_up Whether the agent could read a source of metrics during this scrape (1) or not (0; its metrics are missing).\n# TYPE vem_metrics_source_up gauge\n")
			for _, s := range sources {
				want.WriteString("vem_metrics_source_up{source=\"" + s + "\"} ")
				if s == name {
					want.WriteString("0\n")
				} else {
					want.WriteString("1\n")
				}
			}
			// CollectAndCompare sorts by label; so does the text above
			// once sorted here.
			if err := testutil.CollectAndCompare(c, strings.NewReader(want.String()), "vem_metrics_source_up"); err != nil {
				t.Error(err)
			}
			if n := testutil.CollectAndCount(c, "vem_port_receive_packets_total"); (name == sourceCounters) != (n == 0) {
				t.Errorf("%d port packet series with %s failing", n, name)
			}
			if n := testutil.CollectAndCount(c, "vem_dpa_state"); (name == sourceDPA) != (n == 0) {
				t.Errorf("%d DPA state series with %s failing", n, name)
			}
		})
	}
}

// Everything the agent exports passes promtool's checks (the same linter).
func TestCollectorLint(t *testing.T) {
	r := NewReconciles()
	r.Observe(Reconcile{Operation: OpApply, Took: 30 * time.Millisecond, State: "current"})
	reg, err := NewRegistry(NewCollector(vsmHost(), nil), r)
	if err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	// Every family the collector describes is gathered from a full host.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	ch := make(chan *prometheus.Desc, 100)
	go func() { NewCollector(nil, nil).Describe(ch); r.Describe(ch); close(ch) }()
	for d := range ch {
		name := strings.Split(strings.TrimPrefix(d.String(), `Desc{fqName: "`), `"`)[0]
		if !got[name] {
			t.Errorf("%s described but not gathered", name)
		}
	}
}
