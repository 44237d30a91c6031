package netdef_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/netdef"
)

const good = `segments:
  - {name: web, type: vlan, vlan: 100}
  - {name: db, type: vxlan, vni: 5001}
profiles:
  - {name: default, portSecurity: true}
ports:
  - {id: 6F1D2B7C-3E0A-4A5B-9C8D-00000000000A, mac: "52:54:00:00:00:0A", segment: web, profile: default}
`

func TestParseGood(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		f    netdef.Format
	}{
		{"yaml", good, netdef.YAML},
		{"json", `{"segments":[{"name":"web","type":"vlan","vlan":100},{"name":"db","type":"vxlan","vni":5001}],
"profiles":[{"name":"default","portSecurity":true}],
"ports":[{"id":"6f1d2b7c-3e0a-4a5b-9c8d-00000000000a","mac":"52:54:00:00:00:0a","segment":"web","profile":"default"}]}`, netdef.JSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := netdef.ParseValid([]byte(tc.data), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if n.Ports[0].ID != "6f1d2b7c-3e0a-4a5b-9c8d-00000000000a" || n.Ports[0].MAC != "52:54:00:00:00:0a" {
				t.Fatalf("port not normalised: %+v", n.Ports[0])
			}
			if n.Segments[1].MTU != spec.DefaultSegmentMTU {
				t.Fatalf("vxlan MTU not defaulted: %+v", n.Segments[1])
			}
		})
	}
}

// TestParseProblems checks that every refusal names the field and its line.
func TestParseProblems(t *testing.T) {
	for _, tc := range []struct {
		name  string
		data  string
		f     netdef.Format
		line  int
		field string
		msg   string
	}{
		{"host fact uplink", "segments: []\nuplink: po1\n", netdef.YAML, 2, "uplink", "host fact"},
		{"host fact vtep", "vtep: {address: 198.51.100.1}\n", netdef.YAML, 1, "vtep", "agent file"},
		{"host fact portChannels", "portChannels: []\n", netdef.YAML, 1, "portChannels", "host fact"},
		{"host fact host", "host: hv1\n", netdef.YAML, 1, "host", "host fact"},
		{"vsm section", "vsm: {domain: 1}\n", netdef.YAML, 1, "vsm", "host fact"},
		{"port interface", "ports:\n  - id: x\n    interface: tap-a\n", netdef.YAML, 3, "ports[0].interface", "named by its id"},
		{"unknown field", "segments:\n  - {name: a, type: local, colour: red}\n", netdef.YAML, 2, "segments[0].colour", "unknown field"},
		{"type error", "segments:\n  - name: a\n    type: vlan\n    vlan: lots\n", netdef.YAML, 4, "segments[0].vlan", "cannot unmarshal"},
		{"validation", "segments:\n  - name: a\n    type: vlan\n    vlan: 5000\n", netdef.YAML, 4, "segments[0].vlan", "outside"},
		{"dynamic name", "profiles:\n  - name: vnn1\n", netdef.YAML, 2, "profiles[0].name", "dynamic"},
		{"json duplicate", "{\"segments\": [],\n \"segments\": []}", netdef.JSON, 2, "segments", "more than once"},
		{"json case", "{\n\"Segments\": []}", netdef.JSON, 2, "Segments", "case-sensitive"},
		{"json host fact", "{\"segments\": [],\n\"uplink\": \"po1\"}", netdef.JSON, 2, "uplink", "host fact"},
		{"json type error", "{\"segments\": [\n{\"name\": \"a\", \"type\": \"vlan\", \"vlan\": \"x\"}]}", netdef.JSON, 2, "segments.vlan", "integer"},
		{"json validation", "{\"ports\": [\n{\"id\": \"nope\"}]}", netdef.JSON, 2, "ports[0].id", "UUID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := netdef.ParseValid([]byte(tc.data), tc.f)
			var ve *spec.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a validation error", err)
			}
			for _, p := range ve.Problems {
				if p.Field == tc.field && p.Line == tc.line && strings.Contains(p.Msg, tc.msg) {
					return
				}
			}
			t.Fatalf("problems %v; want line %d: %s: ...%s...", ve.Problems, tc.line, tc.field, tc.msg)
		})
	}
}

func TestParseMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		f    netdef.Format
	}{
		{"empty yaml", "", netdef.YAML},
		{"null yaml", "~\n", netdef.YAML},
		{"two documents", "segments: []\n---\nprofiles: []\n", netdef.YAML},
		{"not a mapping", "- a\n", netdef.YAML},
		{"empty json", " ", netdef.JSON},
		{"trailing json", `{"segments": []} {}`, netdef.JSON},
		{"truncated json", `{"segments": [`, netdef.JSON},
		{"json array", `[]`, netdef.JSON},
		{"json not utf-8", "{\"segments\": [{\"name\": \"\xff\"}]}", netdef.JSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if n, _, err := netdef.Parse([]byte(tc.data), tc.f); err == nil {
				t.Fatalf("parsed %+v", n)
			}
		})
	}
}

func TestFormatOf(t *testing.T) {
	for ct, want := range map[string]netdef.Format{
		"": netdef.YAML, "application/json": netdef.JSON, "application/json; charset=utf-8": netdef.JSON,
		"application/yaml": netdef.YAML, "text/yaml": netdef.YAML, "text/plain": "",
	} {
		got, err := netdef.FormatOf(ct)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("FormatOf(%q) = %q, %v; want %q", ct, got, err, want)
		}
	}
}
