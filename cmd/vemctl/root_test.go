package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/api/apitest"
	"github.com/vem-switch/vem/spec"
)

func testBackend() *apitest.Backend {
	return &apitest.Backend{
		StatusInfo:       testStatus,
		PortList:         append([]api.Port(nil), testPorts...),
		MACs:             testMACs,
		SegmentList:      testSegments,
		VTEPInfo:         testVTEPs,
		BridgeDomainList: testBridgeDomains,
		PortChannelList:  testPortChannels,
		LACPNeighborList: testLACPNeighbors,
		LACPCounterList:  testLACPCounters,
		CounterList:      testCounters,
		PortSecurityList: testPortSecurity,
	}
}

// vemctl runs the command line args against the agent on socket, passed
// through VEM_SOCKET, and returns the exit status, stdout and stderr.
func vemctl(t *testing.T, socket string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(key string) string {
		if key == "VEM_SOCKET" {
			return socket
		}
		return ""
	}
	code := run(context.Background(), args, &stdout, &stderr, getenv)
	return code, stdout.String(), stderr.String()
}

func TestShowJSON(t *testing.T) {
	tests := []struct {
		name string
		args []string
		into any // a pointer to a zero value of want's type
		want any
	}{
		{"module", []string{"show", "module"}, &api.Status{}, testStatus},
		{"ports", []string{"show", "ports"}, &[]api.Port{}, testPorts},
		{"vxlan vteps", []string{"show", "vxlan", "vteps"}, &api.VTEPs{}, testVTEPs},
		{"bridge-domains", []string{"show", "bridge-domains"}, &[]api.BridgeDomain{}, testBridgeDomains},
		{"port-channel", []string{"show", "port-channel"}, &[]api.PortChannel{}, testPortChannels},
		{"port-channel summary", []string{"show", "port-channel", "summary"}, &[]api.PortChannel{}, testPortChannels},
		{"lacp neighbor", []string{"show", "lacp", "neighbor"}, &[]api.LACPNeighbor{}, testLACPNeighbors},
		{"lacp counters", []string{"show", "lacp", "counters"}, &[]api.LACPCounters{}, testLACPCounters},
		{"port-security", []string{"show", "port-security"}, &[]api.PortSecurity{}, testPortSecurity},
		{"port-security of a port", []string{"show", "port-security", "tap-c"}, &[]api.PortSecurity{}, testPortSecurity[2:]},
	}
	socket := apitest.Serve(t, testBackend())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := vemctl(t, socket, append(tt.args, "-o", "json")...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if err := json.Unmarshal([]byte(out), tt.into); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			// The agent's order, not the table's sorted one.
			if got := reflect.ValueOf(tt.into).Elem().Interface(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestCommands(t *testing.T) {
	tests := []struct {
		name string
		args []string
		// want are lines that stdout must hold, each as a whole line
		// with runs of spaces collapsed; wantNot must be in no line.
		want, wantNot []string
	}{
		{"module", []string{"show", "module"}, []string{
			"hv1 default standalone po1 2024-05-01T10:00:00Z",
			"current -- -- 2024-05-01T10:00:00Z 3 2024-05-01T10:05:00Z",
		}, []string{"Engine error"}},
		{"ports", []string{"show", "ports"}, []string{
			"Vethernet2 tap-b 12 veth 52:54:00:00:00:0b db -- down attached",
			"-- tap-z -- veth 52:54:00:00:00:0e web -- absent config",
			"Vethernet3 tap-y 14 veth 52:54:00:00:00:0f old default orphaned attached",
		}, nil},
		{"mac-table", []string{"show", "mac-table"}, []string{"web 52:54:00:00:00:0a static -- tap-a --", "web 52:54:00:00:00:0c local 1 tap-c --", "Total MAC Addresses: 5"}, nil},
		{"mac-table of a segment", []string{"show", "mac-table", "--segment", "db"}, []string{
			"db 52:54:00:00:00:fe remote 30 eth1 198.51.100.2",
			"db 52:54:00:00:00:0b local 0 tap-b --",
			"Total MAC Addresses: 2",
		}, []string{"web"}},
		{"vxlan vteps", []string{"show", "vxlan", "vteps"}, []string{
			"Local VTEP: 198.51.100.1 UDP port 4789",
			"198.51.100.2 5001 198.51.100.2 eth1 1",
			"203.0.113.7 -- -- -- 0",
		}, nil},
		{"bridge-domains", []string{"show", "bridge-domains"}, []string{"5001 db unicast-only 1450 198.51.100.2,198.51.100.10 Vethernet2,Vethernet3"}, nil},
		{"segments", []string{"show", "segments"}, []string{"db vxlan 5001 Vethernet2,Vethernet3"}, nil},
		{"port-channel summary", []string{"show", "port-channel", "summary"}, []string{
			"1 po1(U) Eth LACP eth1(P) eth2(H) eth5(I) eth6(s)",
			"3 po10(U) Eth NONE eth3(P) eth4(D)",
		}, []string{"min-links"}},
		{"port-channel", []string{"show", "port-channel"}, []string{
			"po10: mode mac-pinning, up, min-links 1, auto-priority-failover on",
			"eth3 1 1 Operational Vethernet1,Vethernet2 --",
			"eth5 100 0 individual -- partner key 14, not 13",
		}, []string{"Group"}},
		{"lacp neighbor", []string{"show", "lacp", "neighbor"}, []string{
			"po1 neighbors:",
			"eth7 down -- -- -- -- F AG --",
		}, nil},
		{"lacp counters", []string{"show", "lacp", "counters"}, []string{"po1 eth1 1234567 1234570 3 2 1"}, nil},
		{"counters", []string{"show", "counters"}, []string{
			"Vethernet1 10 1000 5 500 3",
			"Vethernet1 port-security 2",
			"Vethernet1 tagged-on-access 1",
		}, []string{"no-route"}},
		{"counters of a port", []string{"show", "counters", "eth1"}, []string{"eth1 123456789 9876543210 0 0 0"}, []string{"Vethernet1"}},
		{"port-security", []string{"show", "port-security"}, []string{
			"Vethernet1 tap-a web on no yes lacp,lldp 7",
			"Vethernet3 3 64 none 500 none",
			"Vethernet1 198.51.100.0/24 52:54:00:00:01:0a pair",
			"Vethernet1 spoofed-source 4",
		}, nil},
		{"port-security of a port", []string{"show", "port-security", "Vethernet2"}, []string{
			"Vethernet2 tap-b router on yes no none 0",
		}, []string{"Vethernet1", "Vethernet3", "Drop Reason"}},
	}
	socket := apitest.Serve(t, testBackend())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := vemctl(t, socket, tt.args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			lines := map[string]bool{}
			for _, l := range strings.Split(out, "\n") {
				lines[strings.Join(strings.Fields(l), " ")] = true
			}
			for _, w := range tt.want {
				if !lines[w] {
					t.Errorf("no line %q in:\n%s", w, out)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(out, w) {
					t.Errorf("%q in:\n%s", w, out)
				}
			}
		})
	}
}

func TestSocketSelection(t *testing.T) {
	socket := apitest.Serve(t, testBackend())
	nowhere := filepath.Join(t.TempDir(), "nowhere.sock")
	tests := []struct {
		name, env string
		args      []string
	}{
		{"VEM_SOCKET", socket, []string{"show", "module"}},
		{"--socket over VEM_SOCKET", nowhere, []string{"show", "module", "--socket", socket}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, _, errOut := vemctl(t, tt.env, tt.args...); code != 0 {
				t.Errorf("exit %d: %s", code, errOut)
			}
		})
	}

	def := newRootCmd(func(string) string { return "" }).PersistentFlags().Lookup("socket").DefValue
	if def != api.DefaultSocket {
		t.Errorf("default socket %q without VEM_SOCKET, want %q", def, api.DefaultSocket)
	}
}

func TestAttachDetach(t *testing.T) {
	b := testBackend()
	socket := apitest.Serve(t, b)
	code, out, errOut := vemctl(t, socket, "port", "attach", "--interface", "tap-c", "--mac", "52:54:00:00:00:0c", "--segment", "web", "--profile", "default",
		"--ip", "192.0.2.12", "--ip", "2001:db8::12")
	if code != 0 {
		t.Fatalf("attach: exit %d: %s", code, errOut)
	}
	if want := "Attached tap-c to segment web.\n"; out != want {
		t.Errorf("attach printed %q, want %q", out, want)
	}
	ports, _ := b.Ports(context.Background())
	if last := ports[len(ports)-1]; last.Interface != "tap-c" || last.MAC != "52:54:00:00:00:0c" || last.Segment != "web" || last.Profile != "default" {
		t.Errorf("backend got port %+v", last)
	}
	want := spec.Port{Interface: "tap-c", MAC: "52:54:00:00:00:0c", Segment: "web", Profile: "default", IPs: []string{"192.0.2.12", "2001:db8::12"}}
	if len(b.Attachments) != 1 || !reflect.DeepEqual(b.Attachments[0].Port, want) {
		t.Errorf("backend attached %+v, want %+v", b.Attachments, want)
	}
	if a := b.Attachments[0]; a.Peer == nil || a.Peer.PID != int32(os.Getpid()) {
		t.Errorf("backend got peer %+v, want this process", a.Peer)
	}

	code, out, errOut = vemctl(t, socket, "port", "detach", "--interface", "tap-c")
	if code != 0 || out != "Detached tap-c.\n" {
		t.Fatalf("detach: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if ports, _ := b.Ports(context.Background()); len(ports) != len(testPorts) {
		t.Errorf("%d ports after detach, want %d", len(ports), len(testPorts))
	}
}

func TestErrors(t *testing.T) {
	socket := apitest.Serve(t, testBackend())
	missing := filepath.Join(t.TempDir(), "missing.sock")
	tests := []struct {
		name   string
		socket string
		args   []string
		want   string // the error line, after "vemctl: "
		usage  bool   // whether a pointer to the help follows
	}{
		{"agent not running", missing, []string{"show", "ports"},
			"vem-agent is not running (no socket at " + missing + "): connect: no such file or directory", false},
		{"attach without --mac", socket, []string{"port", "attach", "--interface", "tap-c", "--segment", "web"},
			"missing required flag(s): --mac", true},
		{"attach with a bad --mac", socket, []string{"port", "attach", "--interface", "tap-c", "--segment", "web", "--mac", "52:54:00:00:00"},
			`--mac: invalid MAC "52:54:00:00:00": want six colon-separated hex octets`, true},
		{"attach to an unknown segment", socket, []string{"port", "attach", "--interface", "tap-c", "--segment", "nope", "--mac", "52:54:00:00:00:0c"},
			"attach tap-c: unknown segment nope: not found", false},
		{"attach twice", socket, []string{"port", "attach", "--interface", "tap-a", "--segment", "web", "--mac", "52:54:00:00:00:0a"},
			"attach tap-a: tap-a is already a port: conflict", false},
		{"attach with a bad --ip", socket, []string{"port", "attach", "--interface", "tap-c", "--segment", "web", "--mac", "52:54:00:00:00:0c", "--ip", "192.0.2.1", "--ip", "192.0.2.0/24"},
			`--ip: invalid IP address "192.0.2.0/24"`, true},
		{"attach with commas in --ip", socket, []string{"port", "attach", "--interface", "tap-c", "--segment", "web", "--mac", "52:54:00:00:00:0c", "--ip", "192.0.2.1,192.0.2.2"},
			`--ip: invalid IP address "192.0.2.1,192.0.2.2"`, true},
		{"attach with a multicast --ip", socket, []string{"port", "attach", "--interface", "tap-c", "--segment", "web", "--mac", "52:54:00:00:00:0c", "--ip", "224.0.0.1"},
			`--ip: IP address "224.0.0.1" is not a host address`, true},
		{"detach without --interface", socket, []string{"port", "detach"},
			"missing required flag: --interface", true},
		{"detach an unknown port", socket, []string{"port", "detach", "--interface", "tap-x"},
			"detach tap-x: no port on interface tap-x: not found", false},
		{"counters of an unknown port", socket, []string{"show", "counters", "tap-x"},
			"counters of port tap-x: unknown port tap-x: not found", false},
		{"port-security of an unknown port", socket, []string{"show", "port-security", "tap-x"},
			"port security of port tap-x: unknown port tap-x: not found", false},
		{"port-security of two ports", socket, []string{"show", "port-security", "tap-a", "tap-b"},
			`vemctl show port-security takes at most 1 port, got "tap-a" "tap-b"`, true},
		{"counters of two ports", socket, []string{"show", "counters", "a", "b"},
			`vemctl show counters takes at most 1 port, got "a" "b"`, true},
		{"argument to ports", socket, []string{"show", "ports", "all"},
			`vemctl show ports takes no arguments, got "all"`, true},
		{"unknown show command", socket, []string{"show", "vteps"},
			`unknown command "vteps" for "vemctl show"`, true},
		{"unknown vxlan view", socket, []string{"show", "vxlan", "peers"},
			`unknown command "peers" for "vemctl show vxlan"`, true},
		{"unknown port-channel view", socket, []string{"show", "port-channel", "brief"},
			`unknown command "brief" for "vemctl show port-channel"`, true},
		{"unknown lacp view", socket, []string{"show", "lacp", "neighbors"},
			`unknown command "neighbors" for "vemctl show lacp"`, true},
		{"argument to lacp counters", socket, []string{"show", "lacp", "counters", "eth1"},
			`vemctl show lacp counters takes no arguments, got "eth1"`, true},
		{"argument to bridge-domains", socket, []string{"show", "bridge-domains", "5001"},
			`vemctl show bridge-domains takes no arguments, got "5001"`, true},
		{"unknown command", socket, []string{"sho", "ports"},
			`unknown command "sho" for "vemctl"`, true},
		{"unknown flag", socket, []string{"show", "ports", "--all"},
			"unknown flag: --all", true},
		{"bad output format", socket, []string{"show", "ports", "-o", "yaml"},
			`invalid --output "yaml": want table or json`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := vemctl(t, tt.socket, tt.args...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
			if lines[0] != "vemctl: "+tt.want {
				t.Errorf("stderr %q, want first line %q", errOut, "vemctl: "+tt.want)
			}
			wantLines := 1
			if tt.usage {
				wantLines = 2
				if !strings.HasPrefix(lines[len(lines)-1], "Run 'vemctl") {
					t.Errorf("stderr %q: no pointer to the help", errOut)
				}
			}
			if len(lines) != wantLines {
				t.Errorf("stderr has %d lines, want %d (the error once):\n%s", len(lines), wantLines, errOut)
			}
		})
	}
}

func TestHelpSucceeds(t *testing.T) {
	for _, args := range [][]string{nil, {"show"}, {"show", "lacp"}, {"port", "attach", "--help"}} {
		code, out, errOut := vemctl(t, "/nonexistent.sock", args...)
		if code != 0 || !strings.Contains(out, "Usage:") || errOut != "" {
			t.Errorf("vemctl %v: exit %d, stderr %q, stdout:\n%s", args, code, errOut, out)
		}
	}
}
