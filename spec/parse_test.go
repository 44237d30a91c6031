package spec_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/spec"
)

func TestParseExample(t *testing.T) {
	c, err := spec.Load("testdata/example.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &spec.Switch{
		Host:     "hv1",
		Instance: "default",
		Socket:   "/run/vem/default.sock",
		Uplink:   "eth1",
		VTEP:     &spec.VTEP{Address: "198.51.100.1", Port: 4789},
		PortChannels: []spec.PortChannel{{
			Name: "po1", Mode: spec.ModeLACPActive, Rate: spec.RateFast, Hash: spec.HashSrcDstIPL4Port,
			Members: []spec.Member{{Interface: "eth1"}, {Interface: "eth2"}},
		}},
		Segments: []spec.Segment{
			{Name: "web", Type: spec.SegmentVLAN, VLAN: 100},
			{Name: "mgmt", Type: spec.SegmentFlat},
			{Name: "db", Type: spec.SegmentVXLAN, VNI: 5001, VTEPs: []string{"198.51.100.2", "198.51.100.3"}, MTU: spec.DefaultSegmentMTU},
		},
		Profiles: []spec.Profile{
			{Name: "default", PortSecurity: true},
			{Name: "shut", AdminDown: true},
		},
		Ports: []spec.Port{
			{Interface: "tap-a", MAC: "52:54:00:00:00:0a", Segment: "web", Profile: "default"},
		},
		MACAgeing: spec.Duration(300 * time.Second),
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load(example.yaml) =\n%+v\nwant\n%+v", c, want)
	}
}

func TestParseDefaults(t *testing.T) {
	const segs = "segments: [{name: l, type: local}]\n"
	tests := []struct {
		name  string
		yaml  string
		check func(*spec.Switch) (got, want any)
	}{
		{"instance", "host: hv1\n", func(c *spec.Switch) (any, any) {
			return c.Instance, "default"
		}},
		{"socket follows default instance", "host: hv1\n", func(c *spec.Switch) (any, any) {
			return c.Socket, "/run/vem/default.sock"
		}},
		{"socket follows instance", "host: hv1\ninstance: blue\n", func(c *spec.Switch) (any, any) {
			return c.Socket, "/run/vem/blue.sock"
		}},
		{"socket kept", "host: hv1\nsocket: /tmp/x.sock\n", func(c *spec.Switch) (any, any) {
			return c.Socket, "/tmp/x.sock"
		}},
		{"macAgeing", "host: hv1\n", func(c *spec.Switch) (any, any) {
			return time.Duration(c.MACAgeing), spec.DefaultMACAgeing
		}},
		{"macAgeing zero", "host: hv1\nmacAgeing: 0s\n", func(c *spec.Switch) (any, any) {
			return time.Duration(c.MACAgeing), spec.DefaultMACAgeing
		}},
		{"macAgeing kept", "host: hv1\nmacAgeing: 5m\n", func(c *spec.Switch) (any, any) {
			return time.Duration(c.MACAgeing), 5 * time.Minute
		}},
		{"vtep port", "host: hv1\nvtep: {address: 198.51.100.1}\n", func(c *spec.Switch) (any, any) {
			return c.VTEP.Port, uint16(4789)
		}},
		{"vtep port kept", "host: hv1\nvtep: {address: 198.51.100.1, port: 8472}\n", func(c *spec.Switch) (any, any) {
			return c.VTEP.Port, uint16(8472)
		}},
		{"no vtep", "host: hv1\n", func(c *spec.Switch) (any, any) {
			return c.VTEP == nil, true
		}},
		{"lacp rate and hash", "host: hv1\nportChannels: [{name: po1, mode: lacp-passive, members: [{interface: eth1}]}]\n", func(c *spec.Switch) (any, any) {
			pc := c.PortChannels[0]
			return [2]string{string(pc.Rate), string(pc.Hash)}, [2]string{"fast", "src-dst-mac"}
		}},
		{"lacp slow kept", "host: hv1\nportChannels: [{name: po1, mode: lacp-active, rate: slow, hash: src-dst-ip, members: [{interface: eth1}]}]\n", func(c *spec.Switch) (any, any) {
			pc := c.PortChannels[0]
			return [2]string{string(pc.Rate), string(pc.Hash)}, [2]string{"slow", "src-dst-ip"}
		}},
		{"static hashes without rate", "host: hv1\nportChannels: [{name: po1, mode: static, members: [{interface: eth1}]}]\n", func(c *spec.Switch) (any, any) {
			pc := c.PortChannels[0]
			return [2]string{string(pc.Rate), string(pc.Hash)}, [2]string{"", "src-dst-mac"}
		}},
		{"mac-pinning neither", "host: hv1\nportChannels: [{name: po1, mode: mac-pinning, members: [{interface: eth1}]}]\n", func(c *spec.Switch) (any, any) {
			pc := c.PortChannels[0]
			return [2]string{string(pc.Rate), string(pc.Hash)}, [2]string{"", ""}
		}},
		{"local segments need no uplink", "host: hv1\n" + segs, func(c *spec.Switch) (any, any) {
			return c.UplinkInterfaces(), []string(nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := spec.Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got, want := tt.check(c); !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestParseUnknownFields(t *testing.T) {
	in := `host: hv1
segments:
  - {name: web, type: local, vlna: 3}
portchannels: []
`
	_, err := spec.Parse([]byte(in))
	want := []spec.Problem{
		{Line: 3, Field: "segments[0].vlna", Msg: "unknown field (want one of name, type, vlan, vni, vteps, mtu)"},
		{Line: 4, Field: "portchannels", Msg: "unknown field (want one of host, instance, socket, uplink, vtep, portChannels, segments, profiles, ports, macAgeing, vsm, metrics, ovs)"},
	}
	if got := problems(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("problems = %+v, want %+v", got, want)
	}
}

// TestParseDecodeErrors covers input that never reaches validation: the
// decoder's own errors must still say where.
func TestParseDecodeErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", "", "empty document"},
		{"comments only", "# nothing\n", "empty document"},
		{"document marker only", "---\n", "empty document"},
		{"null", "~\n", "empty document"},
		{"syntax", "host: hv1\nsegments: [\n", "line 2"},
		{"not a mapping", "- host\n", "line 1: cannot unmarshal !!seq"},
		{"wrong type", "host: hv1\nsegments:\n  - {name: web, type: vlan, vlan: hundred}\n", "line 3: cannot unmarshal !!str `hundred` into int"},
		{"port overflows", "host: hv1\nvtep: {address: 198.51.100.1, port: 70000}\n", "line 2: cannot unmarshal !!int `70000` into uint16"},
		{"duplicate key", "host: hv1\nhost: hv2\n", `line 2: mapping key "host" already defined at line 1`},
		{"two documents", "host: hv1\n---\nhost: hv2\n", "more than one YAML document"},
		{"unknown field in merge", "host: hv1\nsegments:\n  - <<: {name: web, type: local, bogus: 1}\n", "line 3: field bogus not found"},
		{"negative duration", "host: hv1\nmacAgeing: -5s\n", `line 2: negative duration "-5s"`},
		{"duration without unit", "host: hv1\nmacAgeing: 300\n", `line 2: invalid duration "300"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := spec.Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	in := `host: hv1
instance: ../etc
segments:
  - {name: web, type: vlan, vlan: 5000}
ports:
  - {interface: tap-a, mac: "ff:ff:ff:ff:ff:ff", segment: web}
uplink: eth1
`
	_, err := spec.Parse([]byte(in))
	want := strings.Join([]string{
		`line 2: instance: "../etc" is not 1..32 of [a-zA-Z0-9_-]: it names the directory /sys/fs/bpf/vem/<instance>/`,
		`line 4: segments[0].vlan: 5000 is outside 1..4094`,
		`line 6: ports[0].mac: MAC ff:ff:ff:ff:ff:ff is multicast, not a station address`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("Parse error =\n%v\nwant\n%s", err, want)
	}
	if got := problems(t, err); len(got) != 3 {
		t.Errorf("got %d problems, want 3", len(got))
	}
}

// TestParseSortsByLine checks problems come in file order even when the
// sections are not in the order validation visits them.
func TestParseSortsByLine(t *testing.T) {
	in := `ports:
  - {interface: tap-a, mac: "52:54:00:00:00:0a", segment: nope}
segments:
  - {name: web, type: bogus}
host: ""
`
	var lines []int
	for _, p := range problems(t, mustFail(t, in)) {
		lines = append(lines, p.Line)
	}
	if want := []int{2, 4, 5}; !reflect.DeepEqual(lines, want) {
		t.Errorf("problem lines = %v, want %v", lines, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("host: hv1\nmacAgeing: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := spec.Load(bad)
	if want := "config " + bad + ": line 2: macAgeing: 1s is outside 10s..1000000s"; err == nil || err.Error() != want {
		t.Errorf("Load(bad) = %v, want %s", err, want)
	}
	var verr *spec.ValidationError
	if !errors.As(err, &verr) {
		t.Errorf("Load(bad) error %T does not wrap *ValidationError", err)
	}

	_, err = spec.Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want os.ErrNotExist", err)
	}
}

// problems returns the problems of a *ValidationError, failing the test
// for any other error.
func problems(t *testing.T, err error) []spec.Problem {
	t.Helper()
	var verr *spec.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	return verr.Problems
}

func mustFail(t *testing.T, in string) error {
	t.Helper()
	_, err := spec.Parse([]byte(in))
	if err == nil {
		t.Fatalf("Parse succeeded on\n%s", in)
	}
	return err
}

func TestParseOddKeys(t *testing.T) {
	tests := []struct {
		yaml, field string
	}{
		{"host: hv1\n\"\": 1\n", `""`},
		{"host: hv1\n\"a.b\": 1\n", `"a.b"`},
		{"host: hv1\n? [a]\n: 1\n", "(non-scalar key)"},
		{"host: hv1\nvtep: {address: 198.51.100.1, 'po rt': 1}\n", `vtep."po rt"`},
	}
	for _, tt := range tests {
		got := problems(t, mustFail(t, tt.yaml))
		if len(got) != 1 || got[0].Field != tt.field || got[0].Line != 2 {
			t.Errorf("Parse(%q) problems = %+v, want one on line 2 at field %s", tt.yaml, got, tt.field)
		}
	}
}
