package agent

import (
	"fmt"
	"net/netip"

	"github.com/vem-switch/vem/bpf"
	"github.com/vem-switch/vem/headless"
	"github.com/vem-switch/vem/spec"
)

// addRemoteMACs adds the VSM's remote MACs to the plan's static entries:
// each one, in its bridge domain's segment, points at its VTEP through
// the underlay uplink, as a MAC learned over VXLAN would. A MAC of a
// bridge domain the plan lacks is skipped (the configuration that drops
// it may arrive before the MAC update); one a local port holds stays
// the local port's.
func (p *plan) addRemoteMACs(macs []headless.RemoteMAC) error {
	for _, m := range macs {
		segID, ok := p.vnis[m.VNI]
		if !ok {
			continue
		}
		mac, err := spec.ParseMAC(m.MAC)
		if err != nil {
			return fmt.Errorf("remote MAC %s of VNI %d: %w", m.MAC, m.VNI, err)
		}
		vtep, err := netip.ParseAddr(m.VTEP)
		if err != nil || !vtep.Is4() {
			return fmt.Errorf("remote MAC %s of VNI %d: VTEP %q is not an IPv4 address", m.MAC, m.VNI, m.VTEP)
		}
		e := bpf.MACEntry{Segment: segID, MAC: macOf(mac), Remote: true, VTEP: vtep, Static: true,
			Ifindex: p.settings.UnderlayIfindex}
		if up, ok := p.ports[e.Ifindex]; ok {
			e.Slot = up.Entry.Slot
		}
		if _, local := p.statics[staticKeyOf(e)]; local {
			continue
		}
		p.statics[staticKeyOf(e)] = e
	}
	return nil
}
