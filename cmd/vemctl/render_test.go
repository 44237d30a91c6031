package main

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
)

var (
	testStatus = api.Status{
		Host: "hv1", Instance: "default", Mode: "standalone", Uplink: "po1",
		ConfigFile: "/etc/vem/vem.yaml", LastReload: "2024-05-01T10:00:00Z",
		Engine: api.EngineStatus{State: api.EngineCurrent, LastApplied: "2024-05-01T10:00:00Z", DriftRepairs: 3, LastResync: "2024-05-01T10:05:00Z"},
	}
	testPorts = []api.Port{
		{Name: "Vethernet1", Interface: "tap-a", Ifindex: 7, Kind: "veth", MAC: "52:54:00:00:00:0a", Segment: "web", Profile: "default", State: "up", Source: "config"},
		{Name: "Vethernet2", Interface: "tap-b", Ifindex: 12, Kind: "veth", MAC: "52:54:00:00:00:0b", Segment: "db", State: "down", Source: "attached"},
		{Name: "eth1", Interface: "eth1", Ifindex: 3, Kind: "uplink", State: "up", Source: "config"},
		// Its VM stopped: configured, the interface gone.
		{Name: "--", Interface: "tap-z", Kind: "veth", MAC: "52:54:00:00:00:0e", Segment: "web", State: "absent", Source: "config"},
		// Attached to a segment since removed from the configuration.
		{Name: "Vethernet3", Interface: "tap-y", Ifindex: 14, Kind: "veth", MAC: "52:54:00:00:00:0f", Segment: "old", Profile: "default", State: "orphaned", Source: "attached"},
	}
	testMACs = []api.MACEntry{
		{Segment: "web", MAC: "52:54:00:00:00:0a", Port: "tap-a", Static: true},
		{Segment: "web", MAC: "52:54:00:00:00:0c", Port: "tap-c", AgeSeconds: 1.9},
		{Segment: "web", MAC: "52:54:00:00:00:ff", Port: "eth1", Remote: true, AgeSeconds: 120},
		{Segment: "db", MAC: "52:54:00:00:00:0b", Port: "tap-b"},
		// Learned from a VXLAN frame: the port is the uplink it came in on.
		{Segment: "db", MAC: "52:54:00:00:00:fe", Port: "eth1", Remote: true, VTEP: "198.51.100.2", AgeSeconds: 30.5},
	}
	testSegments = []api.Segment{
		{Name: "web", Type: "vlan", VLAN: 100, Ports: []string{"Vethernet1"}},
		{Name: "db", Type: "vxlan", VNI: 5001, Ports: []string{"Vethernet2", "Vethernet3"}},
		{Name: "lab", Type: "local", Ports: []string{}},
	}
	testVTEPs = api.VTEPs{Local: "198.51.100.1", Port: 4789, Remote: []api.RemoteVTEP{
		{Address: "198.51.100.10", BridgeDomains: []int{5002, 5001}, NextHop: "198.51.100.254", Interface: "po1", MACs: 0},
		{Address: "203.0.113.7", BridgeDomains: []int{}}, // no route to it
		{Address: "198.51.100.2", BridgeDomains: []int{5001}, NextHop: "198.51.100.2", Interface: "eth1", MACs: 1},
	}}
	testBridgeDomains = []api.BridgeDomain{
		{VNI: 5002, Segment: "lab", Mode: "unicast-only", MTU: 1450, VTEPs: []string{"198.51.100.10"}, Ports: []string{}},
		{VNI: 5001, Segment: "db", Mode: "unicast-only", MTU: 1450, VTEPs: []string{"198.51.100.10", "198.51.100.2"}, Ports: []string{"Vethernet2", "Vethernet3"}},
	}
	testPortChannels = []api.PortChannel{
		{Name: "po10", Mode: "mac-pinning", Up: true, MinLinks: 1, AutoPriorityFailover: true, Members: []api.PortChannelMember{
			{Interface: "eth3", Priority: 1, Status: "Operational", Active: true, VEths: []string{"Vethernet1", "Vethernet2"}},
			{Interface: "eth4", Priority: 2, Status: "Link Down"},
		}},
		{Name: "po1", Mode: "lacp-active", Up: true, MinLinks: 2, System: "32768,52:54:00:aa:00:01", Key: 1,
			PartnerSystem: "32768,00:1b:21:00:00:01", PartnerKey: 13, Members: []api.PortChannelMember{
				{Interface: "eth1", Priority: 32768, Status: "bundled", Active: true},
				{Interface: "eth2", Priority: 32768, Status: "standby", Reason: "beyond max-bundle 1"},
				{Interface: "eth5", Priority: 100, Status: "individual", Reason: "partner key 14, not 13"},
				{Interface: "eth6", Priority: 32768, Status: "waiting", Reason: "wait-while timer"},
			}},
		{Name: "po2", Mode: "static", MinLinks: 1, Members: []api.PortChannelMember{}},
	}
	testLACPNeighbors = []api.LACPNeighbor{
		{PortChannel: "po3", Interface: "eth7", State: "down", PartnerState: "F", ActorState: "AG"},
		{PortChannel: "po1", Interface: "eth1", State: "bundled", PartnerSystem: "32768,00:1b:21:00:00:01", PartnerKey: 13,
			PartnerPort: 7, PartnerPortPriority: 32768, PartnerState: "AGSCD", ActorState: "AGSCD", LastPDU: "2024-05-01T09:59:59.2Z"},
		{PortChannel: "po1", Interface: "eth2", State: "standby", PartnerSystem: "32768,00:1b:21:00:00:01", PartnerKey: 13,
			PartnerPort: 8, PartnerPortPriority: 32768, PartnerState: "ATGS", ActorState: "AGS", LastPDU: "2024-05-01T09:57:55Z"},
	}
	testLACPCounters = []api.LACPCounters{
		{PortChannel: "po10", Interface: "eth9", PDUsRx: 1},
		{PortChannel: "po1", Interface: "eth2", PDUsRx: 40, PDUsTx: 41},
		{PortChannel: "po1", Interface: "eth1", PDUsRx: 1234567, PDUsTx: 1234570, MalformedRx: 3, MarkersRx: 2, MarkersTx: 1},
	}
	// testNow is the time the LACP neighbors' PDU ages are taken at.
	testNow      = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	testCounters = []api.Counters{
		{Port: "Vethernet1", RxPackets: 10, RxBytes: 1000, TxPackets: 5, TxBytes: 500,
			Drops: map[string]uint64{"port-security": 2, "tagged-on-access": 1, "no-route": 0}},
		{Port: "eth1", RxPackets: 123456789, RxBytes: 9876543210, Drops: map[string]uint64{}},
	}
)

func TestTables(t *testing.T) {
	tests := []struct {
		name  string
		write func(io.Writer) error
		want  string
	}{
		{"module", func(w io.Writer) error { return writeStatus(w, testStatus) }, `
Host  Instance  Mode        Uplink  Last reload
----  --------  ----------  ------  --------------------
hv1   default   standalone  po1     2024-05-01T10:00:00Z

Engine   Attempts  Next retry  Last applied          Drift repairs  Last resync
-------  --------  ----------  --------------------  -------------  --------------------
current  --        --          2024-05-01T10:00:00Z  3              2024-05-01T10:05:00Z

Config file: /etc/vem/vem.yaml
`},
		{"module retrying", func(w io.Writer) error {
			return writeStatus(w, api.Status{Host: "hv1", Instance: "default", Mode: "standalone", Engine: api.EngineStatus{
				State: api.EngineRetrying, Error: "apply port tap-b: update port map: no space left on device", Attempts: 3,
				NextRetry: "2024-05-01T10:00:08Z", LastApplied: "2024-05-01T09:00:00Z"}})
		}, `
Host  Instance  Mode        Uplink  Last reload
----  --------  ----------  ------  -----------
hv1   default   standalone  --      --

Engine    Attempts  Next retry            Last applied          Drift repairs  Last resync
--------  --------  --------------------  --------------------  -------------  -----------
retrying  3         2024-05-01T10:00:08Z  2024-05-01T09:00:00Z  0              --

Engine error (retrying):
  apply port tap-b: update port map: no space left on device
`},
		{"module rolled back", func(w io.Writer) error {
			return writeStatus(w, api.Status{Host: "hv1", Instance: "default", Mode: "standalone", ConfigFile: "/etc/vem/vem.yaml",
				Engine: api.EngineStatus{State: api.EngineRolledBack, Error: "attach program to tap-b: device busy\nrestore tap-b: device busy",
					Attempts: 5, LastApplied: "2024-05-01T09:00:00Z", DriftRepairs: 1}})
		}, `
Host  Instance  Mode        Uplink  Last reload
----  --------  ----------  ------  -----------
hv1   default   standalone  --      --

Engine       Attempts  Next retry  Last applied          Drift repairs  Last resync
-----------  --------  ----------  --------------------  -------------  -----------
rolled-back  5         --          2024-05-01T09:00:00Z  1              --

Engine error (rolled back to the last applied state):
  attach program to tap-b: device busy
  restore tap-b: device busy

Config file: /etc/vem/vem.yaml
`},
		{"module with config error", func(w io.Writer) error {
			return writeStatus(w, api.Status{Host: "hv1", Instance: "default", Mode: "standalone",
				ConfigError: "line 7: segments[1].vlan: 5000 is not in 1..4094\nline 9: ports[0].segment: no segment dbx"})
		}, `
Host  Instance  Mode        Uplink  Last reload
----  --------  ----------  ------  -----------
hv1   default   standalone  --      --

Config error (running the last good configuration):
  line 7: segments[1].vlan: 5000 is not in 1..4094
  line 9: ports[0].segment: no segment dbx
`},
		{"ports", func(w io.Writer) error { return writePorts(w, testPorts) }, `
Port        Interface  Ifindex  Kind    MAC                Segment  Profile  State     Source
----------  ---------  -------  ------  -----------------  -------  -------  --------  --------
Vethernet1  tap-a      7        veth    52:54:00:00:00:0a  web      default  up        config
Vethernet2  tap-b      12       veth    52:54:00:00:00:0b  db       --       down      attached
eth1        eth1       3        uplink  --                 --       --       up        config
--          tap-z      --       veth    52:54:00:00:00:0e  web      --       absent    config
Vethernet3  tap-y      14       veth    52:54:00:00:00:0f  old      default  orphaned  attached
`},
		{"no ports", func(w io.Writer) error { return writePorts(w, nil) }, `
Port  Interface  Ifindex  Kind  MAC  Segment  Profile  State  Source
----  ---------  -------  ----  ---  -------  -------  -----  ------
`},
		{"mac-table", func(w io.Writer) error { return writeMACTable(w, testMACs) }, `
Segment  MAC Address        Type    Age  Port   VTEP
-------  -----------------  ------  ---  -----  ------------
db       52:54:00:00:00:0b  local   0    tap-b  --
db       52:54:00:00:00:fe  remote  30   eth1   198.51.100.2
web      52:54:00:00:00:0a  static  --   tap-a  --
web      52:54:00:00:00:0c  local   1    tap-c  --
web      52:54:00:00:00:ff  remote  120  eth1   --
Total MAC Addresses: 5
`},
		{"vxlan vteps", func(w io.Writer) error { return writeVTEPs(w, testVTEPs) }, `
Local VTEP: 198.51.100.1 UDP port 4789

Remote VTEP    Bridge Domains  Next Hop        Interface  MACs
-------------  --------------  --------------  ---------  ----
198.51.100.2   5001            198.51.100.2    eth1       1
198.51.100.10  5001,5002       198.51.100.254  po1        0
203.0.113.7    --              --              --         0
`},
		{"no vteps", func(w io.Writer) error { return writeVTEPs(w, api.VTEPs{}) }, `
Local VTEP: none configured

Remote VTEP  Bridge Domains  Next Hop  Interface  MACs
-----------  --------------  --------  ---------  ----
`},
		{"bridge-domains", func(w io.Writer) error { return writeBridgeDomains(w, testBridgeDomains) }, `
VNI   Segment  Mode          MTU   VTEPs                       Ports
----  -------  ------------  ----  --------------------------  ---------------------
5001  db       unicast-only  1450  198.51.100.2,198.51.100.10  Vethernet2,Vethernet3
5002  lab      unicast-only  1450  198.51.100.10               --
`},
		{"port-channel summary", func(w io.Writer) error { return writePortChannelSummary(w, testPortChannels) }, `
Flags: D - Down          P - Up in port-channel (bundled)
       I - Individual    H - Hot-standby (LACP only)
       s - Suspended     U - Up (port-channel)

Group  Port-Channel  Type  Protocol  Member Ports
-----  ------------  ----  --------  -------------------------------
1      po1(U)        Eth   LACP      eth1(P) eth2(H) eth5(I) eth6(s)
2      po2(D)        Eth   NONE      --
3      po10(U)       Eth   NONE      eth3(P) eth4(D)
`},
		{"no port-channel summary", func(w io.Writer) error { return writePortChannelSummary(w, nil) }, `
Flags: D - Down          P - Up in port-channel (bundled)
       I - Individual    H - Hot-standby (LACP only)
       s - Suspended     U - Up (port-channel)

Group  Port-Channel  Type  Protocol  Member Ports
-----  ------------  ----  --------  ------------
`},
		{"port-channel", func(w io.Writer) error { return writePortChannels(w, testPortChannels) }, `
po1: mode lacp-active, up, min-links 2, LACP system 32768,52:54:00:aa:00:01 key 1, partner system 32768,00:1b:21:00:00:01 key 13

Interface  LACP Priority  Active  Status      VEths  Reason
---------  -------------  ------  ----------  -----  ----------------------
eth1       32768          1       bundled     --     --
eth2       32768          0       standby     --     beyond max-bundle 1
eth5       100            0       individual  --     partner key 14, not 13
eth6       32768          0       waiting     --     wait-while timer

po2: mode static, down, min-links 1

Interface  Priority  Active  Status  VEths  Reason
---------  --------  ------  ------  -----  ------

po10: mode mac-pinning, up, min-links 1, auto-priority-failover on

Interface  Failover Priority  Active  Status       VEths                  Reason
---------  -----------------  ------  -----------  ---------------------  ------
eth3       1                  1       Operational  Vethernet1,Vethernet2  --
eth4       2                  0       Link Down    --                     --
`},
		{"no port-channels", func(w io.Writer) error { return writePortChannels(w, nil) }, `
No port-channels.
`},
		{"lacp neighbor", func(w io.Writer) error { return writeLACPNeighbors(w, testLACPNeighbors, testNow) }, `
State: A - Active, T - Short timeout, G - Aggregatable, S - Synchronized,
       C - Collecting, D - Distributing, F - Defaulted, E - Expired

po1 neighbors:
Interface  State    Partner System           Partner Key  Partner Port  Port Priority  Partner State  Actor State  Last PDU
---------  -------  -----------------------  -----------  ------------  -------------  -------------  -----------  --------
eth1       bundled  32768,00:1b:21:00:00:01  13           7             32768          AGSCD          AGSCD        0.8s ago
eth2       standby  32768,00:1b:21:00:00:01  13           8             32768          ATGS           AGS          2m5s ago

po3 neighbors:
Interface  State  Partner System  Partner Key  Partner Port  Port Priority  Partner State  Actor State  Last PDU
---------  -----  --------------  -----------  ------------  -------------  -------------  -----------  --------
eth7       down   --              --           --            --             F              AG           --
`},
		{"no lacp neighbors", func(w io.Writer) error { return writeLACPNeighbors(w, nil, testNow) }, `
State: A - Active, T - Short timeout, G - Aggregatable, S - Synchronized,
       C - Collecting, D - Distributing, F - Defaulted, E - Expired

No LACP neighbors.
`},
		{"lacp counters", func(w io.Writer) error { return writeLACPCounters(w, testLACPCounters) }, `
Port-Channel  Interface  PDUs Rx  PDUs Tx  Malformed Rx  Markers Rx  Markers Tx
------------  ---------  -------  -------  ------------  ----------  ----------
po1           eth2       40       41       0             0           0
po1           eth1       1234567  1234570  3             2           1
po10          eth9       1        0        0             0           0
`},
		{"no lacp counters", func(w io.Writer) error { return writeLACPCounters(w, nil) }, `
Port-Channel  Interface  PDUs Rx  PDUs Tx  Malformed Rx  Markers Rx  Markers Tx
------------  ---------  -------  -------  ------------  ----------  ----------
`},
		{"segments", func(w io.Writer) error { return writeSegments(w, testSegments) }, `
Segment  Type   VLAN/VNI  Ports
-------  -----  --------  ---------------------
web      vlan   100       Vethernet1
db       vxlan  5001      Vethernet2,Vethernet3
lab      local  --        --
`},
		{"counters", func(w io.Writer) error { return writeCounters(w, testCounters) }, `
Port        Rx Packets  Rx Bytes    Tx Packets  Tx Bytes  Drops
----------  ----------  ----------  ----------  --------  -----
Vethernet1  10          1000        5           500       3
eth1        123456789   9876543210  0           0         0

Port        Drop Reason       Packets
----------  ----------------  -------
Vethernet1  port-security     2
Vethernet1  tagged-on-access  1
`},
		{"counters without drops", func(w io.Writer) error { return writeCounters(w, testCounters[1:]) }, `
Port  Rx Packets  Rx Bytes    Tx Packets  Tx Bytes  Drops
----  ----------  ----------  ----------  --------  -----
eth1  123456789   9876543210  0           0         0
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.write(&b); err != nil {
				t.Fatal(err)
			}
			if want := tt.want[1:]; b.String() != want { // [1:] drops the newline after the backquote
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
			}
		})
	}
}

func TestTableCellsStayOnOneLine(t *testing.T) {
	tb := newTable("A", "B")
	tb.Row("x\ty", "z\nw")
	var b bytes.Buffer
	if err := tb.Write(&b); err != nil {
		t.Fatal(err)
	}
	want := "A    B\n---  ---\nx y  z w\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

// TestJSON checks that -o json writes the API types, indented, so that
// they decode back to what was rendered.
func TestJSON(t *testing.T) {
	tests := []struct {
		name string
		v    any
		into any // a pointer to a zero value of v's type
	}{
		{"module", testStatus, &api.Status{}},
		{"module without an engine", api.Status{Host: "hv1", Instance: "default", Mode: "standalone"}, &api.Status{}},
		{"ports", testPorts, &[]api.Port{}},
		{"mac-table", testMACs, &[]api.MACEntry{}},
		{"segments", testSegments, &[]api.Segment{}},
		{"vxlan vteps", testVTEPs, &api.VTEPs{}},
		{"bridge-domains", testBridgeDomains, &[]api.BridgeDomain{}},
		{"counters", testCounters, &[]api.Counters{}},
		{"port-channel", testPortChannels, &[]api.PortChannel{}},
		{"no port-channels", []api.PortChannel{}, &[]api.PortChannel{}},
		{"lacp neighbor", testLACPNeighbors, &[]api.LACPNeighbor{}},
		{"no lacp neighbors", []api.LACPNeighbor{}, &[]api.LACPNeighbor{}},
		{"lacp counters", testLACPCounters, &[]api.LACPCounters{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &options{output: outputJSON}
			var b bytes.Buffer
			err := o.render(&b, tt.v, func(io.Writer) error {
				t.Error("-o json rendered a table")
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var indented bytes.Buffer
			if err := json.Indent(&indented, b.Bytes(), "", "  "); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, b.String())
			}
			if indented.String() != b.String() {
				t.Errorf("output is not indented:\n%s", b.String())
			}
			if err := json.Unmarshal(b.Bytes(), tt.into); err != nil {
				t.Fatal(err)
			}
			if got := reflect.ValueOf(tt.into).Elem().Interface(); !reflect.DeepEqual(got, tt.v) {
				t.Errorf("decoded %+v, want %+v", got, tt.v)
			}
		})
	}
}

func TestJSONFieldNames(t *testing.T) {
	var b bytes.Buffer
	if err := writeJSON(&b, []api.MACEntry{testMACs[0], testMACs[2], testMACs[4]}); err != nil {
		t.Fatal(err)
	}
	want := `[
  {
    "segment": "web",
    "mac": "52:54:00:00:00:0a",
    "port": "tap-a",
    "remote": false,
    "static": true,
    "ageSeconds": 0
  },
  {
    "segment": "web",
    "mac": "52:54:00:00:00:ff",
    "port": "eth1",
    "remote": true,
    "ageSeconds": 120
  },
  {
    "segment": "db",
    "mac": "52:54:00:00:00:fe",
    "port": "eth1",
    "remote": true,
    "vtep": "198.51.100.2",
    "ageSeconds": 30.5
  }
]
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
