package bpf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

const (
	macFlagRemote = 1 << 0
	macFlagPeer   = 1 << 1
)

// MACEntry is one learned MAC address.
type MACEntry struct {
	Segment uint32
	MAC     net.HardwareAddr
	Ifindex int // the port it was last seen on
	Slot    uint16
	Remote  bool // learned on the uplink
	// VTEP is the remote tunnel endpoint of a MAC learned over VXLAN.
	VTEP netip.Addr
	// Seen is when it was last seen, on the datapath's clock (Now).
	Seen time.Duration
}

// Now reads the clock the datapath stamps MAC entries with
// (bpf_ktime_get_coarse_ns: CLOCK_MONOTONIC, coarse).
func Now() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC_COARSE, &ts)
	return time.Duration(ts.Nano())
}

// MACs reads the MAC table.
func (d *Datapath) MACs() ([]MACEntry, error) {
	var (
		k   vemVemMacKey
		v   vemVemMacEntry
		out []MACEntry
	)
	it := d.objs.VemMacs.Iterate()
	for it.Next(&k, &v) {
		out = append(out, MACEntry{
			Segment: k.Segment,
			MAC:     append(net.HardwareAddr(nil), k.Mac[:]...),
			Ifindex: int(v.Ifindex),
			Slot:    v.Slot,
			Remote:  v.Flags&macFlagRemote != 0,
			VTEP:    addrFrom(v.Vtep),
			Seen:    time.Duration(v.SeenNs),
		})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read MAC table: %w", err)
	}
	return out, nil
}

// DeleteMACs removes every entry drop selects and returns how many went.
// The agent uses it to age entries out and to forget MACs of a port that
// is removed or goes down.
func (d *Datapath) DeleteMACs(drop func(MACEntry) bool) (int, error) {
	entries, err := d.MACs()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if !drop(e) {
			continue
		}
		k := vemVemMacKey{Segment: e.Segment}
		copy(k.Mac[:], e.MAC)
		if err := d.objs.VemMacs.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return n, fmt.Errorf("delete MAC %s: %w", e.MAC, err)
		}
		n++
	}
	return n, nil
}
