package spec_test

import (
	"reflect"
	"testing"

	"github.com/vem-switch/vem/spec"
)

func TestLookups(t *testing.T) {
	c, err := spec.Load("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := c.Segment("db"); !ok || s.VNI != 5001 {
		t.Errorf("Segment(db) = %+v, %v; want VNI 5001", s, ok)
	}
	if s, ok := c.Segment("nope"); ok || s != nil {
		t.Errorf("Segment(nope) = %+v, %v; want nil, false", s, ok)
	}
	if p, ok := c.Profile("shut"); !ok || !p.AdminDown {
		t.Errorf("Profile(shut) = %+v, %v; want adminDown", p, ok)
	}
	if p, ok := c.Profile(""); ok || p != nil {
		t.Errorf("Profile(\"\") = %+v, %v; want nil, false", p, ok)
	}
	if pc, ok := c.PortChannel("po1"); !ok || len(pc.Members) != 2 {
		t.Errorf("PortChannel(po1) = %+v, %v; want 2 members", pc, ok)
	}
	if pc, ok := c.PortChannel("po2"); ok || pc != nil {
		t.Errorf("PortChannel(po2) = %+v, %v; want nil, false", pc, ok)
	}

	// The lookups return the config's own element, for the reconciler to
	// read and for tests to modify in place.
	s, _ := c.Segment("web")
	s.VLAN = 200
	if c.Segments[0].VLAN != 200 {
		t.Errorf("Segment(web) returned a copy")
	}
}

func TestUplinkInterfaces(t *testing.T) {
	pcs := []spec.PortChannel{{Name: "po1", Members: []spec.Member{{Interface: "eth2"}, {Interface: "eth1"}}}}
	tests := []struct {
		uplink string
		want   []string
	}{
		{"", nil},
		{"eth3", []string{"eth3"}},
		{"po1", []string{"eth2", "eth1"}},
	}
	for _, tt := range tests {
		c := &spec.Switch{Uplink: tt.uplink, PortChannels: pcs}
		if got := c.UplinkInterfaces(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("uplink %q: UplinkInterfaces() = %v, want %v", tt.uplink, got, tt.want)
		}
	}
}

func TestPortPolicy(t *testing.T) {
	c := &spec.Switch{Profiles: []spec.Profile{{Name: "gold", PortSecurity: true}}}
	tests := []struct {
		profile string
		want    spec.Profile
	}{
		{"gold", spec.Profile{Name: "gold", PortSecurity: true}},
		{"", spec.Profile{PortSecurity: true}}, // secure by default
	}
	for _, tt := range tests {
		if got := c.PortPolicy(spec.Port{Profile: tt.profile}); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("PortPolicy(profile %q) = %+v, want %+v", tt.profile, got, tt.want)
		}
	}
}
