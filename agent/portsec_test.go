package agent

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vem-switch/vem/bpf"
)

const boundYAML = `
host: hv1
segments: [{name: red, type: local}]
profiles:
  - {name: vip, portSecurity: true, allowedAddressPairs: [{ip: 192.0.2.100/32, mac: "52:54:00:00:00:aa"}, {ip: "2001:db8::/64"}]}
  - {name: dhcp, portSecurity: true, trusted: true, allowLinkLocal: [lldp, eapol]}
  - {name: open, maxMACs: 8, stormControl: {broadcast: 50}}
ports:
  - {interface: tap-a, mac: "52:54:00:00:00:0a", segment: red, profile: vip,
     ips: ["2001:db8::a", 192.0.2.1, 192.0.2.2, 192.0.2.3, 192.0.2.4, 192.0.2.5]}
  - {interface: tap-b, mac: "52:54:00:00:00:0b", segment: red, profile: dhcp}
  - {interface: tap-c, mac: "52:54:00:00:00:0c", segment: red, profile: open}
`

// TestPortSecurityPlanned: profiles and addresses become the port
// entries' policy, bindings beyond the entry and static pair MACs; the
// bindings are written before the entries that turn them on, and cleared
// when a port is no longer bound.
func TestPortSecurityPlanned(t *testing.T) {
	dp := newFakeDatapath()
	a := newTestAgent(t, dp)
	p := a.apply(t, boundYAML)

	ta := dp.ports[12]
	want4 := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"),
		netip.MustParseAddr("192.0.2.3"), netip.MustParseAddr("192.0.2.4"), netip.MustParseAddr("2001:db8::a")}
	if !ta.Secure || !ta.BindAddresses || !slices.Equal(ta.Addresses, want4) {
		t.Errorf("tap-a: secure %v bind %v addresses %v, want IPv4 first, %d of a family in the entry",
			ta.Secure, ta.BindAddresses, ta.Addresses, bpf.PortAddresses)
	}
	var got []string
	for _, b := range dp.bindings[ta.Slot] {
		got = append(got, b.String())
	}
	if w := []string{"192.0.2.5/32", "192.0.2.100/32@52:54:00:00:00:aa", "2001:db8::/64"}; !slices.Equal(got, w) {
		t.Errorf("tap-a bindings %v, want %v", got, w)
	}
	if e, ok := p.statics[staticKey{segment: ta.Segment, mac: [6]byte{0x52, 0x54, 0, 0, 0, 0xaa}}]; !ok || e.Ifindex != 12 {
		t.Errorf("the pair's MAC is not a static entry of tap-a: %+v", e)
	}
	bind := writeIndex(dp.writes, "SetPortAddresses")
	if port := writeIndex(dp.writes, "SetPort 12"); bind < 0 || port < bind {
		t.Errorf("bindings written at %d, tap-a's entry at %d: bindings must go first\n%s", bind, port, strings.Join(dp.writes, "\n"))
	}

	tb := dp.ports[11]
	if !tb.Trusted || tb.AllowLinkLocal != bpf.LinkLocalLLDP|bpf.LinkLocalEAPOL || tb.BindAddresses {
		t.Errorf("tap-b: trusted %v link-local %v bind %v", tb.Trusted, tb.AllowLinkLocal, tb.BindAddresses)
	}
	tc := dp.ports[10]
	if tc.Secure || tc.MaxMACs != 8 || tc.Storm != (bpf.StormControl{Broadcast: 50}) {
		t.Errorf("tap-c: secure %v maxMACs %d storm %+v, want open, 8, broadcast 50", tc.Secure, tc.MaxMACs, tc.Storm)
	}

	// Unchanged: nothing rewritten. tap-a unbound: its bindings go.
	a.apply(t, boundYAML)
	if len(dp.writes) != 0 {
		t.Errorf("unchanged state wrote %v", dp.writes)
	}
	unbound := strings.Replace(boundYAML, `profile: vip,
     ips: ["2001:db8::a", 192.0.2.1, 192.0.2.2, 192.0.2.3, 192.0.2.4, 192.0.2.5]}`, "profile: dhcp}", 1)
	a.apply(t, unbound)
	if dp.ports[12].BindAddresses {
		t.Fatal("tap-a still bound")
	}
	if _, ok := dp.bindings[ta.Slot]; ok {
		t.Errorf("tap-a's bindings stay after it was unbound: %v", dp.bindings[ta.Slot])
	}
}
