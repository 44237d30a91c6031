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

// MACEntry is one MAC address of the MAC table: learned, or static (a
// port-secured vEth's own MAC, installed by the agent).
type MACEntry struct {
	Segment uint32
	MAC     net.HardwareAddr
	Ifindex int // the port it was last seen on, or a static entry's port
	Slot    uint16
	Remote  bool // learned on the uplink
	// Peer marks a local veth port that takes bpf_redirect_peer.
	Peer bool
	// Static marks an entry of the static table: never aged or moved.
	Static bool
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

// MACs reads the learned MAC table.
func (d *Datapath) MACs() ([]MACEntry, error) {
	out, err := readMACs(d.objs.VemMacs, false)
	if err != nil {
		return nil, fmt.Errorf("read MAC table: %w", err)
	}
	return out, nil
}

// StaticMACs reads the static MAC table.
func (d *Datapath) StaticMACs() ([]MACEntry, error) {
	out, err := readMACs(d.objs.VemStaticMacs, true)
	if err != nil {
		return nil, fmt.Errorf("read static MAC table: %w", err)
	}
	return out, nil
}

func readMACs(m *ebpf.Map, static bool) ([]MACEntry, error) {
	var (
		k   vemVemMacKey
		v   vemVemMacEntry
		out []MACEntry
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		out = append(out, MACEntry{
			Segment: k.Segment,
			MAC:     append(net.HardwareAddr(nil), k.Mac[:]...),
			Ifindex: int(v.Ifindex),
			Slot:    v.Slot,
			Remote:  v.Flags&macFlagRemote != 0,
			Peer:    v.Flags&macFlagPeer != 0,
			Static:  static,
			VTEP:    addrFrom(v.Vtep),
			Seen:    time.Duration(v.SeenNs),
		})
	}
	return out, it.Err()
}

// SetStaticMAC installs e (Segment, MAC, Ifindex, Slot, Peer; Remote and
// VTEP for a remote MAC of MAC distribution) in the static MAC table,
// where the datapath finds it before any learned entry.
func (d *Datapath) SetStaticMAC(e MACEntry) error {
	k := macKey(e.Segment, e.MAC)
	v := vemVemMacEntry{Ifindex: uint32(e.Ifindex), Slot: e.Slot}
	if e.VTEP.Is4() {
		v.Vtep = addrValue(e.VTEP)
	}
	if e.Peer {
		v.Flags |= macFlagPeer
	}
	if e.Remote {
		v.Flags |= macFlagRemote
	}
	if err := d.objs.VemStaticMacs.Put(&k, &v); err != nil {
		return fmt.Errorf("static MAC %s in segment %d: %w", e.MAC, e.Segment, err)
	}
	return nil
}

// DeleteStaticMAC removes mac of segment from the static MAC table; an
// absent entry is not an error.
func (d *Datapath) DeleteStaticMAC(segment uint32, mac net.HardwareAddr) error {
	k := macKey(segment, mac)
	if err := d.objs.VemStaticMacs.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete static MAC %s in segment %d: %w", mac, segment, err)
	}
	return nil
}

func macKey(segment uint32, mac net.HardwareAddr) vemVemMacKey {
	k := vemVemMacKey{Segment: segment}
	copy(k.Mac[:], mac)
	return k
}

// DeleteMAC removes the learned entry of mac in segment; an absent entry
// is not an error.
func (d *Datapath) DeleteMAC(segment uint32, mac net.HardwareAddr) error {
	k := macKey(segment, mac)
	if err := d.objs.VemMacs.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete MAC %s in segment %d: %w", mac, segment, err)
	}
	return nil
}

// DeleteMACs removes every learned entry drop selects and returns how
// many went.
// The agent uses it to age entries out and to forget MACs of a port that
// is removed or goes down. It then recounts the learned MACs of every
// port from what is left, which the MAC limit of open ports holds to: a
// sweep is how deletions and evictions reach those counts.
func (d *Datapath) DeleteMACs(drop func(MACEntry) bool) (int, error) {
	entries, err := d.MACs()
	if err != nil {
		return 0, err
	}
	n := 0
	kept := entries[:0]
	for _, e := range entries {
		if !drop(e) {
			kept = append(kept, e)
			continue
		}
		k := macKey(e.Segment, e.MAC)
		if err := d.objs.VemMacs.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return n, fmt.Errorf("delete MAC %s: %w", e.MAC, err)
		}
		n++
	}
	if err := d.recountLearned(kept); err != nil {
		return n, err
	}
	return n, nil
}
