package bpf

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// Settings are the datapath's global parameters.
type Settings struct {
	// MACAgeing is how long an unseen MAC stays valid; 0 never ages.
	MACAgeing time.Duration
	// VTEP is the local VXLAN tunnel endpoint (IPv4); invalid when the host
	// has none, and then no VXLAN is encapsulated or decapsulated.
	VTEP netip.Addr
	// VTEPPort is the VXLAN UDP port.
	VTEPPort uint16
	// DontFragment sets DF on outer IPv4 headers.
	DontFragment bool
	// AnySourceVTEP accepts VXLAN from VTEPs outside a bridge domain's
	// list; by default such frames are dropped.
	AnySourceVTEP bool
	// UnderlayIfindex is the interface route lookups for the underlay are
	// made on (the uplink holding the VTEP address).
	UnderlayIfindex int
}

const (
	vtepFlagDF        = 1 << 0
	vtepFlagAnySource = 1 << 1
)

// SetSettings writes the global parameters in one atomic update.
func (d *Datapath) SetSettings(s Settings) error {
	v := vemVemConfig{AgeingNs: uint64(s.MACAgeing), UnderlayIfindex: uint32(s.UnderlayIfindex)}
	if s.VTEP.IsValid() {
		if !s.VTEP.Is4() {
			return fmt.Errorf("VTEP %s: only IPv4 underlays are supported", s.VTEP)
		}
		v.VtepAddr = addrValue(s.VTEP)
		var port [2]byte
		binary.BigEndian.PutUint16(port[:], s.VTEPPort)
		v.VtepPort = binary.NativeEndian.Uint16(port[:])
	}
	if s.DontFragment {
		v.VtepFlags |= vtepFlagDF
	}
	if s.AnySourceVTEP {
		v.VtepFlags |= vtepFlagAnySource
	}
	if err := d.objs.VemSettings.Put(uint32(0), &v); err != nil {
		return fmt.Errorf("write settings: %w", err)
	}
	return nil
}

// addrValue is an IPv4 address as the datapath stores it: network order
// in memory.
func addrValue(a netip.Addr) uint32 {
	b := a.As4()
	return binary.NativeEndian.Uint32(b[:])
}

// addrFrom is the inverse of addrValue; 0 is the invalid address.
func addrFrom(v uint32) netip.Addr {
	if v == 0 {
		return netip.Addr{}
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}
