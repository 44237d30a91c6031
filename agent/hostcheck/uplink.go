package hostcheck

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vem-switch/vem/spec"
)

// ErrNoLink is wrapped by Host.Link for an interface that does not exist.
var ErrNoLink = errors.New("no such interface")

// VXLANOverhead is what VXLAN adds to a segment's frames on the uplink:
// outer Ethernet, IPv4, UDP and VXLAN headers.
const VXLANOverhead = 50

// config reports the file itself.
func (h Host) config(cfg Config) Result {
	const item = "config"
	switch {
	case cfg.Err != nil:
		return bad(item, Fail, "correct the file (vem-agent --config FILE --check explains each problem)", "%v", cfg.Err)
	case cfg.Switch == nil:
		return skip(item, "no configuration file: uplink and VSM not checked (name one with --config)")
	}
	mode := "standalone"
	if cfg.Switch.VSM != nil {
		mode = "VSM mode"
	}
	return ok(item, "%s parsed (%s)", cfg.Path, mode)
}

// uplinkMembers returns the interfaces behind the uplink: a port-channel's
// members, or the interface itself.
func uplinkMembers(sw *spec.Switch) []string {
	for _, pc := range sw.PortChannels {
		if pc.Name == sw.Uplink {
			out := make([]string, 0, len(pc.Members))
			for _, m := range pc.Members {
				out = append(out, m.Interface)
			}
			return out
		}
	}
	return []string{sw.Uplink}
}

// needMTU is the uplink MTU VXLAN needs: the largest VXLAN segment's MTU
// plus the overhead. In VSM mode the segments come from the VSM, so the
// default segment MTU stands in for them (exact says which).
func needMTU(sw *spec.Switch) (need int, exact bool) {
	if sw.VTEP == nil {
		return 0, true
	}
	if sw.VSM != nil {
		return spec.DefaultSegmentMTU + VXLANOverhead, false
	}
	for _, s := range sw.Segments {
		if s.Type == spec.SegmentVXLAN {
			need = max(need, s.MTU+VXLANOverhead)
		}
	}
	return need, true
}

// uplink checks that the uplink's interfaces exist and that their MTU
// carries VXLAN when a VTEP is configured.
func (h Host) uplink(sw *spec.Switch, path string) []Result {
	if sw == nil {
		return nil
	}
	if sw.Uplink == "" {
		return []Result{skip("uplink", "none configured (every segment is local)")}
	}
	members := uplinkMembers(sw)
	mtus := map[string]int{}
	var missing []string
	for _, m := range members {
		mtu, err := h.Link(m)
		switch {
		case errors.Is(err, ErrNoLink):
			missing = append(missing, m)
		case err != nil:
			return []Result{bad("uplink", Fail, "", "interface %s: %v", m, err)}
		default:
			mtus[m] = mtu
		}
	}
	var out []Result
	what := "uplink " + sw.Uplink
	if len(members) > 1 || members[0] != sw.Uplink {
		what = fmt.Sprintf("port-channel %s (members %s)", sw.Uplink, strings.Join(members, ", "))
	}
	if len(missing) > 0 {
		out = append(out, bad("uplink", Fail,
			fmt.Sprintf("create the interface, or name the host's uplink in %s (uplink, portChannels[].members)", path),
			"%s: no interface %s on this host", what, strings.Join(missing, ", ")))
	} else {
		out = append(out, ok("uplink", "%s present", what))
	}
	need, exact := needMTU(sw)
	if need == 0 {
		return append(out, skip("uplink-mtu", "no VXLAN segment: any MTU carries the uplink's segments"))
	}
	st, basis := Fail, "the largest VXLAN segment's MTU"
	if !exact {
		st, basis = Warn, "the default segment MTU (the VSM's segments are not known here)"
	}
	var small []string
	for _, m := range members {
		if mtu, ok := mtus[m]; ok && mtu < need {
			small = append(small, fmt.Sprintf("%s has %d", m, mtu))
		}
	}
	switch {
	case len(small) > 0:
		out = append(out, bad("uplink-mtu", st,
			fmt.Sprintf("ip link set dev IFACE mtu %d on each (and on the underlay switches), or lower the VXLAN segments' mtu", need),
			"VXLAN needs MTU %d (%s plus %d): %s", need, basis, VXLANOverhead, strings.Join(small, ", ")))
	case len(mtus) > 0:
		out = append(out, ok("uplink-mtu", "MTU carries VXLAN: %d needed (%s plus %d)", need, basis, VXLANOverhead))
	}
	return out
}
