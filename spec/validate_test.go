package spec_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vem-switch/vem/spec"
)

// base is a valid file that the rule cases vary one line at a time;
// segments come last so that cases can append one.
const base = `host: hv1
uplink: eth1
ports:
  - {interface: tap-a, mac: "52:54:00:00:00:0a", segment: web}
segments:
  - {name: web, type: vlan, vlan: 100}
`

// withPC is base plus a port-channel po1 on line 7 that the uplink names.
const withPC = `host: hv1
uplink: po1
ports:
  - {interface: tap-a, mac: "52:54:00:00:00:0a", segment: web}
segments:
  - {name: web, type: vlan, vlan: 100}
portChannels:
`

func TestValidateRules(t *testing.T) {
	seventeen := make([]string, 17)
	for i := range seventeen {
		seventeen[i] = fmt.Sprintf("{interface: eth%d}", i)
	}
	tests := []struct {
		name string
		yaml string
		want string // the one problem expected; "" for a valid file
	}{
		{"base", base, ""},

		// Top level.
		{"host missing", strings.Replace(base, "host: hv1\n", "", 1),
			"line 1: host: required"},
		{"host empty", strings.Replace(base, "host: hv1", `host: ""`, 1),
			"line 1: host: required"},
		{"instance path", base + "instance: a/b\n",
			`line 7: instance: "a/b" is not 1..32 of [a-zA-Z0-9_-]: it names the directory /sys/fs/bpf/vem/<instance>/`},
		{"instance dotdot", base + "instance: ..\n",
			`line 7: instance: ".." is not 1..32 of [a-zA-Z0-9_-]: it names the directory /sys/fs/bpf/vem/<instance>/`},
		{"instance too long", base + "instance: " + strings.Repeat("a", 33) + "\n",
			`line 7: instance: "` + strings.Repeat("a", 33) + `" is not 1..32 of [a-zA-Z0-9_-]: it names the directory /sys/fs/bpf/vem/<instance>/`},
		{"instance longest", base + "instance: " + strings.Repeat("a", 32) + "\n", ""},
		{"socket relative", base + "socket: vem.sock\n",
			`line 7: socket: "vem.sock" is not an absolute path`},
		{"socket too long", base + "socket: /" + strings.Repeat("s", 107) + "\n",
			`line 7: socket: "/` + strings.Repeat("s", 107) + `" is longer than 107 bytes, the limit of a unix socket path`},
		{"macAgeing short", base + "macAgeing: 9s\n",
			"line 7: macAgeing: 9s is outside 10s..1000000s"},
		{"macAgeing long", base + "macAgeing: 1000001s\n",
			"line 7: macAgeing: 277h46m41s is outside 10s..1000000s"},
		{"macAgeing bounds", base + "macAgeing: 10s\n", ""},

		// Segments.
		{"segment name empty", base + "  - {type: local}\n",
			"line 7: segments[1].name: required"},
		{"segment name duplicate", base + "  - {name: web, type: local}\n",
			"line 7: segments[1].name: duplicate web (also segments[0].name)"},
		{"segment type missing", base + "  - {name: db}\n",
			"line 7: segments[1].type: required: one of vlan, flat, local, vxlan"},
		{"segment type unknown", base + "  - {name: db, type: bridge}\n",
			`line 7: segments[1].type: "bridge" is not one of vlan, flat, local, vxlan`},
		{"vlan outside", strings.Replace(base, "vlan: 100", "vlan: 5000", 1),
			"line 6: segments[0].vlan: 5000 is outside 1..4094"},
		{"vlan negative", strings.Replace(base, "vlan: 100", "vlan: -1", 1),
			"line 6: segments[0].vlan: -1 is outside 1..4094"},
		{"vlan 4095", strings.Replace(base, "vlan: 100", "vlan: 4095", 1),
			"line 6: segments[0].vlan: 4095 is outside 1..4094"},
		{"vlan missing", strings.Replace(base, ", vlan: 100", "", 1),
			"line 6: segments[0].vlan: required: 1..4094"},
		{"vlan shared", base + "  - {name: db, type: vlan, vlan: 100}\n",
			"line 7: segments[1].vlan: vlan 100 is also segment web"},
		{"vlan on flat", base + "  - {name: db, type: flat, vlan: 7}\n",
			"line 7: segments[1].vlan: only vlan segments take a vlan, not flat"},
		{"vni on vlan", strings.Replace(base, "vlan: 100", "vlan: 100, vni: 5", 1),
			"line 6: segments[0].vni: only vxlan segments take a vni, not vlan"},
		{"vteps on local", base + "  - {name: db, type: local, vteps: [198.51.100.2]}\n",
			"line 7: segments[1].vteps: only vxlan segments take vteps, not local"},
		{"two flat", base + "  - {name: a, type: flat}\n  - {name: b, type: flat}\n",
			"line 8: segments[2].type: at most one flat segment, and a is flat"},
		{"vxlan", vxlan("{name: web, type: vxlan, vni: 16777215, vteps: [198.51.100.2, 198.51.100.3]}"), ""},
		{"vni missing", vxlan("{name: web, type: vxlan}"),
			"line 6: segments[0].vni: required: 1..16777215"},
		{"vni outside", vxlan("{name: web, type: vxlan, vni: 16777216}"),
			"line 6: segments[0].vni: 16777216 is outside 1..16777215"},
		{"vni duplicate", vxlan("{name: web, type: vxlan, vni: 9}\n  - {name: db, type: vxlan, vni: 9}"),
			"line 7: segments[1].vni: vni 9 is also segment web"},
		{"vtep not IPv4", vxlan("{name: web, type: vxlan, vni: 9, vteps: [198.51.100.2, '2001:db8::1']}"),
			`line 6: segments[0].vteps[1]: "2001:db8::1" is not an IPv4 address`},
		{"vtep multicast", vxlan("{name: web, type: vxlan, vni: 9, vteps: [239.1.1.1]}"),
			"line 6: segments[0].vteps[0]: 239.1.1.1 is not a unicast address"},
		{"vtep duplicate", vxlan("{name: web, type: vxlan, vni: 9,\n      vteps: [198.51.100.2, 198.51.100.2]}"),
			"line 7: segments[0].vteps[1]: duplicate 198.51.100.2 (also segments[0].vteps[0])"},
		{"vtep is own", vxlan("{name: web, type: vxlan, vni: 9, vteps: [198.51.100.1]}"),
			"line 6: segments[0].vteps[0]: 198.51.100.1 is this host's own vtep"},
		{"vxlan without vtep", strings.Replace(base, "type: vlan, vlan: 100", "type: vxlan, vni: 9", 1),
			"line 1: vtep: required: segment web is vxlan"},
		{"vtep address missing", base + "vtep: {port: 4789}\n",
			"line 7: vtep.address: required"},
		{"vtep address IPv6", base + "vtep: {address: '2001:db8::1'}\n",
			`line 7: vtep.address: "2001:db8::1" is not an IPv4 address`},
		{"vtep address loopback", base + "vtep: {address: 127.0.0.1}\n",
			"line 7: vtep.address: 127.0.0.1 is a loopback address"},
		{"vtep address broadcast", base + "vtep:\n  address: 255.255.255.255\n",
			"line 8: vtep.address: 255.255.255.255 is not a unicast address"},

		// Profiles.
		{"profile name empty", base + "profiles:\n  - {adminDown: true}\n",
			"line 8: profiles[0].name: required"},
		{"profile name duplicate", base + "profiles:\n  - {name: p}\n  - {name: p}\n",
			"line 9: profiles[1].name: duplicate p (also profiles[0].name)"},

		// Ports.
		{"port interface missing", addPort(`{mac: "52:54:00:00:00:0b", segment: web}`),
			"line 5: ports[1].interface: required"},
		{"port interface duplicate", addPort(`{interface: tap-a, mac: "52:54:00:00:00:0b", segment: web}`),
			"line 5: ports[1].interface: duplicate tap-a (also ports[0].interface)"},
		{"port interface too long", strings.Replace(base, "tap-a", "tap-0123456789ab", 1),
			`line 4: ports[0].interface: "tap-0123456789ab" is longer than 15 bytes, the limit of a Linux interface name`},
		{"port interface longest", strings.Replace(base, "tap-a", "tap-0123456789a", 1), ""},
		{"port interface slash", strings.Replace(base, "tap-a", "tap/a", 1),
			`line 4: ports[0].interface: "tap/a" is not a valid interface name: no '/', ':', whitespace or control characters`},
		{"port interface space", strings.Replace(base, "tap-a", "'tap a'", 1),
			`line 4: ports[0].interface: "tap a" is not a valid interface name: no '/', ':', whitespace or control characters`},
		{"port interface colon", strings.Replace(base, "tap-a", "'tap:a'", 1),
			`line 4: ports[0].interface: "tap:a" is not a valid interface name: no '/', ':', whitespace or control characters`},
		{"port interface dot", strings.Replace(base, "tap-a", "'.'", 1),
			`line 4: ports[0].interface: "." is not a valid interface name`},
		{"port mac missing", strings.Replace(base, `mac: "52:54:00:00:00:0a", `, "", 1),
			"line 4: ports[0].mac: required"},
		{"port mac dashes", strings.Replace(base, "52:54:00:00:00:0a", "52-54-00-00-00-0a", 1),
			`line 4: ports[0].mac: invalid MAC "52-54-00-00-00-0a": want six colon-separated hex octets`},
		{"port mac multicast", strings.Replace(base, "52:54:00:00:00:0a", "01:00:5e:00:00:01", 1),
			"line 4: ports[0].mac: MAC 01:00:5e:00:00:01 is multicast, not a station address"},
		{"port mac broadcast", strings.Replace(base, "52:54:00:00:00:0a", "ff:ff:ff:ff:ff:ff", 1),
			"line 4: ports[0].mac: MAC ff:ff:ff:ff:ff:ff is multicast, not a station address"},
		{"port mac zero", strings.Replace(base, "52:54:00:00:00:0a", "00:00:00:00:00:00", 1),
			"line 4: ports[0].mac: MAC 00:00:00:00:00:00 is all-zero, not a station address"},
		{"port mac duplicate ignoring case", strings.Replace(addPort(`{interface: tap-b, mac: "52:54:00:00:00:0a", segment: web}`), "0a", "0A", 1),
			"line 5: ports[1].mac: duplicate 52:54:00:00:00:0a (also ports[0].mac)"},
		{"port segment missing", strings.Replace(base, ", segment: web", "", 1),
			"line 4: ports[0].segment: required"},
		{"port segment unknown", strings.Replace(base, "segment: web", "segment: db", 1),
			`line 4: ports[0].segment: no segment named "db"`},
		{"port profile unknown", strings.Replace(base, "segment: web}", "segment: web, profile: gold}", 1),
			`line 4: ports[0].profile: no profile named "gold"`},
		{"port profile known", strings.Replace(base, "segment: web}", "segment: web, profile: gold}", 1) + "profiles: [{name: gold}]\n", ""},

		// Uplink.
		{"uplink for vlan", strings.Replace(base, "uplink: eth1\n", "", 1),
			"line 1: uplink: segment web needs an uplink"},
		{"uplink for flat", strings.Replace(strings.Replace(base, "uplink: eth1\n", "", 1), "type: vlan, vlan: 100", "type: flat", 1),
			"line 1: uplink: segment web needs an uplink"},
		{"uplink for vxlan", strings.Replace(strings.Replace(base, "uplink: eth1\n", "", 1), "type: vlan, vlan: 100", "type: vxlan, vni: 1", 1) + "vtep: {address: 198.51.100.1}\n",
			"line 1: uplink: segment web needs an uplink"},
		{"no uplink for local", strings.Replace(strings.Replace(base, "uplink: eth1\n", "", 1), "type: vlan, vlan: 100", "type: local", 1), ""},
		{"uplink invalid", strings.Replace(base, "uplink: eth1", "uplink: eth/1", 1),
			`line 2: uplink: "eth/1" is not a valid interface name: no '/', ':', whitespace or control characters`},
		{"uplink is a port", strings.Replace(base, "uplink: eth1", "uplink: tap-a", 1),
			"line 2: uplink: tap-a is also the vEth ports[0].interface"},

		// Port-channels.
		{"port-channel", withPC + "  - {name: po1, mode: lacp-active, members: [{interface: eth1}, {interface: eth2, priority: 65535}]}\n", ""},
		{"port-channel static", withPC + "  - {name: po1, mode: static, hash: src-dst-ip, members: [{interface: eth1}]}\n", ""},
		{"port-channel mac-pinning", withPC + "  - {name: po1, mode: mac-pinning, members: [{interface: eth1, priority: 1}, {interface: eth2}]}\n", ""},
		{"port-channel sixteen", withPC + "  - {name: po1, mode: static, members: [" + strings.Join(seventeen[:16], ", ") + "]}\n", ""},
		{"port-channel name missing", withPC + "  - {mode: static, members: [{interface: eth1}]}\n",
			"line 8: portChannels[0].name: required"},
		{"port-channel name duplicate", withPC + "  - {name: po1, mode: static, members: [{interface: eth1}]}\n  - {name: po1, mode: static, members: [{interface: eth2}]}\n",
			"line 9: portChannels[1].name: duplicate po1 (also portChannels[0].name)"},
		{"port-channel named like an interface", withPC + "  - {name: po1, mode: static, members: [{interface: eth1}]}\n  - {name: eth1, mode: static, members: [{interface: eth2}]}\n",
			"line 9: portChannels[1].name: eth1 is also the interface portChannels[0].members[0].interface"},
		{"port-channel mode missing", withPC + "  - {name: po1, members: [{interface: eth1}]}\n",
			"line 8: portChannels[0].mode: required: one of lacp-active, lacp-passive, static, mac-pinning"},
		{"port-channel mode unknown", withPC + "  - {name: po1, mode: on, members: [{interface: eth1}]}\n",
			`line 8: portChannels[0].mode: "on" is not one of lacp-active, lacp-passive, static, mac-pinning`},
		{"port-channel rate unknown", withPC + "  - {name: po1, mode: lacp-active, rate: medium, members: [{interface: eth1}]}\n",
			`line 8: portChannels[0].rate: "medium" is not fast or slow`},
		{"port-channel rate on static", withPC + "  - {name: po1, mode: static, rate: fast, members: [{interface: eth1}]}\n",
			"line 8: portChannels[0].rate: only lacp-active and lacp-passive take a rate, not static"},
		{"port-channel hash unknown", withPC + "  - {name: po1, mode: static, hash: round-robin, members: [{interface: eth1}]}\n",
			`line 8: portChannels[0].hash: "round-robin" is not one of src-dst-mac, src-dst-ip, src-dst-ip-l4port`},
		{"port-channel hash on mac-pinning", withPC + "  - {name: po1, mode: mac-pinning, hash: src-dst-mac, members: [{interface: eth1}]}\n",
			"line 8: portChannels[0].hash: mac-pinning pins each vEth to one member and takes no hash"},
		{"port-channel no members", withPC + "  - {name: po1, mode: static}\n",
			"line 8: portChannels[0].members: required: 1 to 16 members"},
		{"port-channel seventeen members", withPC + "  - {name: po1, mode: static, members: [" + strings.Join(seventeen, ", ") + "]}\n",
			"line 8: portChannels[0].members: 17 members, at most 16"},
		{"member interface missing", withPC + "  - {name: po1, mode: static, members: [{priority: 1}]}\n",
			"line 8: portChannels[0].members[0].interface: required"},
		{"member interface invalid", withPC + "  - name: po1\n    mode: static\n    members:\n      - interface: eth 1\n",
			`line 11: portChannels[0].members[0].interface: "eth 1" is not a valid interface name: no '/', ':', whitespace or control characters`},
		{"member in two port-channels", withPC + "  - {name: po1, mode: static, members: [{interface: eth1}]}\n  - {name: po2, mode: static, members: [{interface: eth1}]}\n",
			"line 9: portChannels[1].members[0].interface: duplicate eth1 (also portChannels[0].members[0].interface)"},
		{"member is a port", withPC + "  - {name: po1, mode: static, members: [{interface: tap-a}]}\n",
			"line 4: ports[0].interface: tap-a is also the uplink member portChannels[0].members[0].interface"},
		{"member priority negative", withPC + "  - {name: po1, mode: static, members: [{interface: eth1, priority: -1}]}\n",
			"line 8: portChannels[0].members[0].priority: -1 is outside 0..65535"},
		{"member priority too high", withPC + "  - {name: po1, mode: static, members: [{interface: eth1, priority: 65536}]}\n",
			"line 8: portChannels[0].members[0].priority: 65536 is outside 0..65535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := spec.Parse([]byte(tt.yaml))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Parse:\n%s\nerror: %v", tt.yaml, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse succeeded on\n%s\nwant %s", tt.yaml, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse error:\n%s\nwant\n%s\non\n%s", got, tt.want, tt.yaml)
			}
		})
	}
}

// addPort returns base with a second port.
func addPort(port string) string {
	return strings.Replace(base, "segments:\n", "  - "+port+"\nsegments:\n", 1)
}

// vxlan returns a valid file whose first segment is seg, with a vtep.
func vxlan(seg string) string {
	return strings.Replace(base, "{name: web, type: vlan, vlan: 100}", seg, 1) +
		"vtep: {address: 198.51.100.1}\n"
}

func TestValidateInterfaceExists(t *testing.T) {
	in := `host: hv1
uplink: po1
ports:
  - {interface: tap-b, mac: "52:54:00:00:00:0b", segment: web}
  - {interface: tap-x, mac: "52:54:00:00:00:0c", segment: web}
segments:
  - {name: web, type: vlan, vlan: 100}
portChannels:
  - {name: po1, mode: static, members: [{interface: eth1}, {interface: eth9}]}
  - {name: po2, mode: static, members: [{interface: eth2}]}
`
	exists := map[string]bool{"eth1": true, "eth2": true, "tap-a": true, "tap-b": true}
	var asked []string
	opts := spec.ValidateOptions{InterfaceExists: func(name string) bool {
		asked = append(asked, name)
		return exists[name]
	}}

	_, err := spec.ParseWith([]byte(in), opts)
	want := []spec.Problem{
		{Line: 5, Field: "ports[1].interface", Msg: "interface tap-x does not exist"},
		{Line: 9, Field: "portChannels[0].members[1].interface", Msg: "interface eth9 does not exist"},
	}
	if got := problems(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("problems =\n%+v\nwant\n%+v", got, want)
	}
	slices.Sort(asked)
	if want := []string{"eth1", "eth2", "eth9", "tap-b", "tap-x"}; !reflect.DeepEqual(asked, want) {
		t.Errorf("asked about %v, want %v (a port-channel uplink is no interface)", asked, want)
	}

	// An uplink interface is checked too.
	_, err = spec.ParseWith([]byte(strings.Replace(base, "uplink: eth1", "uplink: eth7", 1)), opts)
	if want := "line 2: uplink: interface eth7 does not exist"; err == nil || err.Error() != want {
		t.Errorf("uplink eth7: %v, want %s", err, want)
	}
}

// TestValidateInCode checks a Config built without YAML: problems name the
// field but no line.
func TestValidateInCode(t *testing.T) {
	c := &spec.Switch{
		Host:     "hv1",
		Segments: []spec.Segment{{Name: "web", Type: spec.SegmentVLAN, VLAN: 4095}},
	}
	c.ApplyDefaults()
	err := c.Validate(spec.ValidateOptions{})
	want := []spec.Problem{
		{Field: "segments[0].vlan", Msg: "4095 is outside 1..4094"},
		{Field: "uplink", Msg: "segment web needs an uplink"},
	}
	if got := problems(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("problems = %+v, want %+v", got, want)
	}
	if want := "segments[0].vlan: 4095 is outside 1..4094\nuplink: segment web needs an uplink"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}

	c.Segments[0].VLAN = 10
	c.Uplink = "eth1"
	if err := c.Validate(spec.ValidateOptions{}); err != nil {
		t.Errorf("Validate after fixing: %v", err)
	}
}

func TestValidateVXLANSegmentMTU(t *testing.T) {
	for _, tc := range []struct {
		name, seg, want string
	}{
		{"too small", "{name: db, type: vxlan, vni: 5001, mtu: 100}", "segments[0].mtu: 100 is outside 576..9000"},
		{"on a vlan segment", "{name: web, type: vlan, vlan: 100, mtu: 1500}", "segments[0].mtu: only vxlan segments take an mtu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := spec.Parse([]byte("host: h\nuplink: eth1\nvtep: {address: 198.51.100.1}\nsegments:\n  - " + tc.seg + "\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestValidatePortChannelOptions(t *testing.T) {
	for _, tc := range []struct {
		name, pc, want string
	}{
		{"min-links above members", "{name: po1, mode: static, minLinks: 3, members: [{interface: eth1}, {interface: eth2}]}", "portChannels[0].minLinks: 3 is outside 0..2"},
		{"auto failover outside mac-pinning", "{name: po1, mode: static, autoPriorityFailover: false, members: [{interface: eth1}]}", "portChannels[0].autoPriorityFailover: only mac-pinning"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := spec.Parse([]byte("host: h\nuplink: po1\nportChannels:\n  - " + tc.pc + "\nsegments:\n  - {name: web, type: vlan, vlan: 100}\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	cfg, err := spec.Parse([]byte("host: h\nuplink: po1\nportChannels:\n  - {name: po1, mode: mac-pinning, members: [{interface: eth1}]}\nsegments:\n  - {name: web, type: vlan, vlan: 100}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.PortChannels[0].AutoFailback() {
		t.Fatal("autoPriorityFailover should default to on")
	}
}
