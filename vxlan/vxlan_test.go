package vxlan

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vem-switch/vem/spec"
)

const twoDomains = `host: hv1
uplink: eth1
vtep: {address: 198.51.100.1}
segments:
  - {name: web, type: vlan, vlan: 100}
  - {name: blue, type: vxlan, vni: 5001, vteps: [198.51.100.3, 198.51.100.2]}
  - {name: red, type: vxlan, vni: 5002, mtu: 1400, vteps: [198.51.100.2]}
`

func TestBridgeDomains(t *testing.T) {
	cfg, err := spec.Parse([]byte(twoDomains))
	if err != nil {
		t.Fatal(err)
	}
	bds, err := BridgeDomains(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(bds) != 2 || bds[0].Segment != "blue" || bds[0].VNI != 5001 || bds[0].MTU != 1500 ||
		bds[1].Segment != "red" || bds[1].MTU != 1400 {
		t.Fatalf("bridge domains = %+v", bds)
	}
	want := []netip.Addr{netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("198.51.100.3")}
	if got := RemoteVTEPs(bds); !slices.Equal(got, want) {
		t.Fatalf("remote VTEPs = %v, want %v (each once, sorted)", got, want)
	}
}

func TestNewUnderlay(t *testing.T) {
	cfg, err := spec.Parse([]byte(twoDomains))
	if err != nil {
		t.Fatal(err)
	}
	bds, _ := BridgeDomains(cfg)
	local := netip.MustParseAddr("198.51.100.1")
	for _, tc := range []struct {
		name string
		up   Uplink
		want []string // substrings of the error; none = success
	}{
		{"fits", Uplink{Name: "eth1", MTU: 1550, Addrs: []netip.Addr{local}}, nil},
		{"address elsewhere", Uplink{Name: "eth1", MTU: 1550}, []string{"vtep address 198.51.100.1 is not assigned to uplink eth1"}},
		{"mtu too small", Uplink{Name: "eth1", MTU: 1500, Addrs: []netip.Addr{local}},
			[]string{"segment blue: mtu 1500 plus 50 bytes of VXLAN overhead needs an uplink MTU of at least 1550, and eth1 has 1500"}},
		{"both problems", Uplink{Name: "eth1", MTU: 1400},
			[]string{"not assigned", "segment blue", "segment red: mtu 1400"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := NewUnderlay(cfg.VTEP, tc.up, bds)
			if len(tc.want) == 0 {
				if err != nil || u.VTEP != local || u.Port != 4789 {
					t.Fatalf("NewUnderlay = %+v, %v", u, err)
				}
				return
			}
			if err == nil {
				t.Fatal("NewUnderlay accepted it")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
