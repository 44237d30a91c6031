package bpf

// Port security beyond the source MAC, as the datapath applies it to a
// frame a vEth receives from its VM (src/portsec.h):
//
//   - every vEth: frames to IEEE 802.1 link-local destinations
//     (01:80:C2:00:00:00..0F) and MAC control frames are dropped
//     ("link-local") unless Port.AllowLinkLocal has their kind; storm
//     control (Port.Storm) on what it floods ("storm");
//   - a Secure vEth: its MAC or an allowed pair's is the only source
//     ("spoofed-source"), and unless Port.Trusted, DHCPv4 (UDP 67 to 68)
//     and DHCPv6 (547 to 546) server messages ("dhcp-server") and ICMPv6
//     router advertisements and redirects ("router-advert") are dropped, as
//     Neutron does with port security on;
//   - a Secure vEth with Port.BindAddresses: the source of IPv4 and IPv6
//     packets must be bound to the frame's source MAC, in Port.Addresses
//     (the port's own MAC) or by SetPortAddresses ("ip-spoof"), as must
//     the sender of ARP ("arp-spoof") and the link-layer options and the
//     advertised target of neighbour discovery ("nd-spoof"). Allowed as
//     Neutron allows: DHCP from 0.0.0.0 (UDP 68 to 67), ARP probes (sender
//     0.0.0.0), DAD and MLD from ::, and the link-local address derived
//     from the frame's source MAC (EUI-64);
//   - an open vEth (not Secure, so it learns): at most Port.MaxMACs
//     learned source MACs; frames from further new ones are dropped
//     ("mac-limit").

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
)

// LinkLocal is a set of IEEE 802.1 reserved link-local destinations a vEth
// may send to: bit n allows 01:80:C2:00:00:0n. Bridges never forward these
// frames, so a VM has no business sending them to the switch unless its
// port allows their kind; the zero value allows none.
type LinkLocal uint16

// Link-local kinds with a name.
const (
	// LinkLocalSTP is the bridge group address: STP, RSTP and MSTP BPDUs.
	LinkLocalSTP LinkLocal = 1 << 0x0
	// LinkLocalPause is MAC control: PAUSE and PFC frames, which are
	// dropped by their EtherType (0x8808) whatever their destination.
	LinkLocalPause LinkLocal = 1 << 0x1
	// LinkLocalSlow is slow protocols: LACP, marker and OAM.
	LinkLocalSlow LinkLocal = 1 << 0x2
	// LinkLocalEAPOL is port-based network access control (802.1X).
	LinkLocalEAPOL LinkLocal = 1 << 0x3
	// LinkLocalLLDP is LLDP to the nearest bridge.
	LinkLocalLLDP LinkLocal = 1 << 0xe
	// LinkLocalAll allows every link-local destination.
	LinkLocalAll LinkLocal = 0xffff
)

var linkLocalNames = []struct {
	name string
	kind LinkLocal
}{
	{"stp", LinkLocalSTP}, {"pause", LinkLocalPause}, {"lacp", LinkLocalSlow},
	{"eapol", LinkLocalEAPOL}, {"lldp", LinkLocalLLDP},
}

// String lists the kinds in l by name, comma-separated: "all", "none",
// or names and, for the kinds without one, the destination address.
func (l LinkLocal) String() string {
	switch l {
	case 0:
		return "none"
	case LinkLocalAll:
		return "all"
	}
	var out []string
	rest := l
	for _, n := range linkLocalNames {
		if l&n.kind != 0 {
			out = append(out, n.name)
			rest &^= n.kind
		}
	}
	for rest != 0 {
		b := bits.TrailingZeros16(uint16(rest))
		out = append(out, fmt.Sprintf("01:80:c2:00:00:%02x", b))
		rest &^= 1 << b
	}
	return strings.Join(out, ",")
}

// ParseLinkLocal parses a comma-separated list of link-local kinds: the
// names stp, pause, lacp (also slow), eapol, lldp, all and none, or an
// address 01:80:c2:00:00:00 to 01:80:c2:00:00:0f. It reads what String
// writes.
func ParseLinkLocal(s string) (LinkLocal, error) {
	var l LinkLocal
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		k, err := linkLocalKind(f)
		if err != nil {
			return 0, fmt.Errorf("link-local kinds %q: %w", s, err)
		}
		l |= k
	}
	return l, nil
}

func linkLocalKind(f string) (LinkLocal, error) {
	switch f {
	case "all":
		return LinkLocalAll, nil
	case "none":
		return 0, nil
	case "slow":
		return LinkLocalSlow, nil
	}
	for _, n := range linkLocalNames {
		if f == n.name {
			return n.kind, nil
		}
	}
	if low, ok := strings.CutPrefix(f, "01:80:c2:00:00:"); ok && len(low) == 2 {
		if n, err := strconv.ParseUint(low, 16, 8); err == nil && n < 16 {
			return 1 << n, nil
		}
	}
	return 0, fmt.Errorf("unknown kind %q (want stp, pause, lacp, eapol, lldp, all, none or 01:80:c2:00:00:0X)", f)
}

// StormControl limits what a vEth floods, per class, in packets per
// second; 0 is no limit. A class's bucket lets a second's worth of its
// rate through back to back, then the rate; frames beyond it are dropped
// ("storm"). The buckets are shared by all CPUs, so the rate holds however
// a port's traffic spreads over them.
type StormControl struct {
	Broadcast      uint32 // to ff:ff:ff:ff:ff:ff
	Multicast      uint32 // to other group addresses
	UnknownUnicast uint32 // to unicast MACs the switch does not know
}

// AddressBinding is an address or prefix a Secure vEth with BindAddresses
// may send from (a fixed IP, or an allowed address pair), and the source
// MAC it may do that with.
type AddressBinding struct {
	// Prefix is an IPv4 or IPv6 prefix; a single address is its /32 or
	// /128. IPv4-mapped IPv6 prefixes and zones are refused.
	Prefix netip.Prefix
	// MAC is the source MAC the prefix is bound to: nil is the port's own
	// MAC (whatever Port.MAC is when a frame comes); another MAC is an
	// allowed pair's, which the port may then send from as well. The
	// agent installs a pair's MAC as a static entry of the port, as it
	// does the port's own, so that frames to it reach the port.
	MAC net.HardwareAddr
}

func (b AddressBinding) String() string {
	if b.MAC == nil {
		return b.Prefix.String()
	}
	return b.Prefix.String() + "@" + b.MAC.String()
}

// addrKeyBits is vem_addr_key.prefixlen of a single address: the slot,
// MAC, family and all 128 address bits (VEM_ADDR_KEY_BITS).
const (
	addrKeyHead = 96
	addrKeyBits = addrKeyHead + 128
)

// addrKey returns the map key of b on slot and whether it goes into the
// hash of single addresses (else the prefix trie).
func addrKey(slot uint16, b AddressBinding) (vemVemAddrKey, bool, error) {
	p := b.Prefix
	if !p.IsValid() {
		return vemVemAddrKey{}, false, fmt.Errorf("invalid prefix %v", p)
	}
	a := p.Addr()
	if a.Zone() != "" || a.Is4In6() {
		return vemVemAddrKey{}, false, fmt.Errorf("prefix %v: want a plain IPv4 or IPv6 prefix", p)
	}
	if b.MAC != nil && (len(b.MAC) != 6 || b.MAC[0]&1 != 0 || bytes.Equal(b.MAC, make([]byte, 6))) {
		return vemVemAddrKey{}, false, fmt.Errorf("binding %v: MAC %v is not a unicast Ethernet address", p, b.MAC)
	}
	k := vemVemAddrKey{Slot: uint32(slot), Family: 6}
	if a.Is4() {
		k.Family = 4
	}
	copy(k.Mac[:], b.MAC)
	p = p.Masked()
	raw := p.Addr().AsSlice()
	copy(k.Addr[:], raw)
	host := p.Bits() == len(raw)*8
	if host {
		k.Prefixlen = addrKeyBits
	} else {
		k.Prefixlen = uint32(addrKeyHead + p.Bits())
	}
	return k, host, nil
}

// bindingFrom decodes a key of either address map.
func bindingFrom(k vemVemAddrKey) AddressBinding {
	var (
		a    netip.Addr
		bits int
	)
	if k.Family == 4 {
		a = netip.AddrFrom4([4]byte(k.Addr[:4]))
		bits = 32
	} else {
		a = netip.AddrFrom16(k.Addr)
		bits = 128
	}
	if k.Prefixlen != addrKeyBits {
		bits = min(int(k.Prefixlen)-addrKeyHead, bits)
	}
	var b AddressBinding
	b.Prefix = netip.PrefixFrom(a, bits)
	if k.Mac != [6]uint8{} {
		b.MAC = append(net.HardwareAddr(nil), k.Mac[:]...)
	}
	return b
}

// SetPortAddresses makes bindings the address bindings of the port in
// slot, and their MACs its extra source MACs, writing only what differs.
// New entries are written before stale ones are deleted, pair MACs
// before the addresses that use them and removed after: a frame sees the
// old set, the new one, or their union, never a set that lacks an entry
// both have. An empty bindings removes them all. On an error, what was
// written stays: write again. It reads the binding maps to find what the
// slot has (a few syscalls for thousands of bindings): call it when a
// port's bindings change, not on every pass over the ports.
func (d *Datapath) SetPortAddresses(slot uint16, bindings []AddressBinding) error {
	if err := d.setPortAddresses(slot, bindings); err != nil {
		return fmt.Errorf("address bindings of slot %d: %w", slot, err)
	}
	return nil
}

func (d *Datapath) setPortAddresses(slot uint16, bindings []AddressBinding) error {
	if slot == 0 || slot >= MaxPorts {
		return fmt.Errorf("slot outside 1..%d", MaxPorts-1)
	}
	wantHost, wantPrefix := map[vemVemAddrKey]bool{}, map[vemVemAddrKey]bool{}
	wantMACs := map[vemVemPortMac]bool{}
	for _, b := range bindings {
		k, host, err := addrKey(slot, b)
		if err != nil {
			return err
		}
		if host {
			wantHost[k] = true
		} else {
			wantPrefix[k] = true
		}
		if b.MAC != nil {
			wantMACs[vemVemPortMac{Slot: uint32(slot), Mac: k.Mac}] = true
		}
	}
	haveHost, err := slotKeys[vemVemAddrKey](d.objs.VemHostAddrs, slot, func(k vemVemAddrKey) uint32 { return k.Slot })
	if err != nil {
		return err
	}
	havePrefix, err := slotKeys[vemVemAddrKey](d.objs.VemAddrs, slot, func(k vemVemAddrKey) uint32 { return k.Slot })
	if err != nil {
		return err
	}
	haveMACs, err := slotKeys[vemVemPortMac](d.objs.VemPortMacs, slot, func(k vemVemPortMac) uint32 { return k.Slot })
	if err != nil {
		return err
	}

	if err := putMissing(d.objs.VemPortMacs, wantMACs, haveMACs, "pair MAC"); err != nil {
		return err
	}
	if err := putMissing(d.objs.VemHostAddrs, wantHost, haveHost, "address"); err != nil {
		return err
	}
	if err := putMissing(d.objs.VemAddrs, wantPrefix, havePrefix, "prefix"); err != nil {
		return err
	}
	if err := deleteStale(d.objs.VemHostAddrs, wantHost, haveHost, "address"); err != nil {
		return err
	}
	if err := deleteStale(d.objs.VemAddrs, wantPrefix, havePrefix, "prefix"); err != nil {
		return err
	}
	return deleteStale(d.objs.VemPortMacs, wantMACs, haveMACs, "pair MAC")
}

// slotKeys returns the keys of m whose slot is slot. Hashes are read in
// batches (a syscall per batchSize entries); the LPM trie, which has no
// batch operations and holds only prefixes, one entry at a time.
func slotKeys[K comparable](m *ebpf.Map, slot uint16, slotOf func(K) uint32) (map[K]bool, error) {
	out := map[K]bool{}
	if m.Type() == ebpf.Hash {
		const batchSize = 512
		keys, vals := make([]K, batchSize), make([]uint8, batchSize)
		var cursor ebpf.MapBatchCursor
		for {
			n, err := m.BatchLookup(&cursor, keys, vals, nil)
			for _, k := range keys[:n] {
				if slotOf(k) == uint32(slot) {
					out[k] = true
				}
			}
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				return out, nil
			}
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", m, err)
			}
		}
	}
	var (
		k K
		v uint8
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		if slotOf(k) == uint32(slot) {
			out[k] = true
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", m, err)
	}
	return out, nil
}

func putMissing[K comparable](m *ebpf.Map, want, have map[K]bool, what string) error {
	for k := range want {
		if have[k] {
			continue
		}
		if err := m.Put(&k, uint8(1)); err != nil {
			return fmt.Errorf("write %s: %w", describeKey(k, what), err)
		}
	}
	return nil
}

func deleteStale[K comparable](m *ebpf.Map, want, have map[K]bool, what string) error {
	for k := range have {
		if want[k] {
			continue
		}
		if err := m.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete %s: %w", describeKey(k, what), err)
		}
	}
	return nil
}

func describeKey(k any, what string) string {
	switch k := k.(type) {
	case vemVemAddrKey:
		return fmt.Sprintf("%s %v", what, bindingFrom(k))
	case vemVemPortMac:
		return fmt.Sprintf("%s %v", what, net.HardwareAddr(k.Mac[:]))
	}
	return what
}

// PortAddresses reads the address bindings of the port in slot, sorted
// by MAC (the port's own first) and prefix.
func (d *Datapath) PortAddresses(slot uint16) ([]AddressBinding, error) {
	var out []AddressBinding
	for _, m := range []*ebpf.Map{d.objs.VemHostAddrs, d.objs.VemAddrs} {
		keys, err := slotKeys[vemVemAddrKey](m, slot, func(k vemVemAddrKey) uint32 { return k.Slot })
		if err != nil {
			return nil, fmt.Errorf("address bindings of slot %d: %w", slot, err)
		}
		for k := range keys {
			out = append(out, bindingFrom(k))
		}
	}
	slices.SortFunc(out, func(a, b AddressBinding) int {
		if c := bytes.Compare(a.MAC, b.MAC); c != 0 {
			return c
		}
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	return out, nil
}

// LearnedMACs returns how many MACs the datapath counts as learned on
// the port in slot, the count its MAC limit is held to. It counts entries
// as they are learned and move; entries deleted since the last DeleteMACs
// sweep, and entries the full table evicted, still count until the next.
func (d *Datapath) LearnedMACs(slot uint16) (int, error) {
	var n int32
	if err := d.objs.VemLearned.Lookup(uint32(slot), &n); err != nil {
		return 0, fmt.Errorf("learned MACs of slot %d: %w", slot, err)
	}
	return max(int(n), 0), nil
}

// recountLearned sets the learned-MAC count of every slot to its entries
// in macs, the learned table as a sweep left it. A MAC learned between
// the sweep's read and this write is lost from its port's count until the
// next sweep (the count is low by one: that port may learn one more).
func (d *Datapath) recountLearned(macs []MACEntry) error {
	m := d.objs.VemLearned
	n := int(m.MaxEntries())
	want := make([]int32, n)
	for _, e := range macs {
		if int(e.Slot) < n {
			want[e.Slot]++
		}
	}
	keys, have := make([]uint32, n), make([]int32, n)
	var cursor ebpf.MapBatchCursor
	got, err := m.BatchLookup(&cursor, keys, have, nil)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("read learned-MAC counts: %w", err)
	}
	var ukeys []uint32
	var uvals []int32
	for i := range got {
		if s := keys[i]; int(s) < n && have[i] != want[s] {
			ukeys, uvals = append(ukeys, s), append(uvals, want[s])
		}
	}
	if len(ukeys) == 0 {
		return nil
	}
	if _, err := m.BatchUpdate(ukeys, uvals, nil); err != nil {
		return fmt.Errorf("write learned-MAC counts: %w", err)
	}
	return nil
}
