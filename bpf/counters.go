package bpf

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// DropReason is why the datapath dropped a frame. The values and names
// follow enum vem_drop in src/types.h; append only.
type DropReason int

// Drop reasons.
const (
	DropUnknownPort DropReason = iota
	DropPortDown
	DropSpoofedSource
	DropTaggedOnAccess
	DropNoSegment
	DropUnknownVLAN
	DropMalformed
	DropNoUplink
	DropHairpin
	DropNotCollecting
	DropRedirect
	DropVXLANFlags
	DropUnknownVNI
	DropUnknownVTEP
	DropOversize
	DropNoRoute
	DropNoNeighbour
	DropNotDesignated
	DropLooped
	DropLinkLocal
	DropIPSpoof
	DropARPSpoof
	DropNDSpoof
	DropDHCPServer
	DropRouterAdvert
	DropMACLimit
	DropStorm
	dropReasons
)

// MaxDropReasons is the size of the datapath's drop counter array
// (VEM_DROP_MAX), room for reasons to come.
const MaxDropReasons = len(vemVemCounters{}.Drops)

// Every reason has a counter: this fails to compile when one has not.
var _ [MaxDropReasons - int(dropReasons)]struct{}

var dropNames = [...]string{
	DropUnknownPort:    "unknown-port",
	DropPortDown:       "port-down",
	DropSpoofedSource:  "spoofed-source",
	DropTaggedOnAccess: "tagged-on-access",
	DropNoSegment:      "no-segment",
	DropUnknownVLAN:    "unknown-vlan",
	DropMalformed:      "malformed",
	DropNoUplink:       "no-uplink",
	DropHairpin:        "hairpin",
	DropNotCollecting:  "not-collecting",
	DropRedirect:       "redirect-failed",
	DropVXLANFlags:     "vxlan-bad-flags",
	DropUnknownVNI:     "unknown-vni",
	DropUnknownVTEP:    "unknown-vtep",
	DropOversize:       "oversize",
	DropNoRoute:        "no-route",
	DropNoNeighbour:    "no-neighbour",
	DropNotDesignated:  "not-designated",
	DropLooped:         "looped",
	DropLinkLocal:      "link-local",
	DropIPSpoof:        "ip-spoof",
	DropARPSpoof:       "arp-spoof",
	DropNDSpoof:        "nd-spoof",
	DropDHCPServer:     "dhcp-server",
	DropRouterAdvert:   "router-advert",
	DropMACLimit:       "mac-limit",
	DropStorm:          "storm",
}

func (r DropReason) String() string {
	if r >= 0 && int(r) < len(dropNames) && dropNames[r] != "" {
		return dropNames[r]
	}
	return fmt.Sprintf("reason-%d", int(r))
}

// Counters are one port's counters summed over CPUs.
type Counters struct {
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64
	Drops              [MaxDropReasons]uint64
}

// Dropped returns the drops by reason name, non-zero ones only.
func (c Counters) Dropped() map[string]uint64 {
	out := map[string]uint64{}
	for i, n := range c.Drops {
		if n != 0 {
			out[DropReason(i).String()] = n
		}
	}
	return out
}

// Counters sums a slot's per-CPU counters.
func (d *Datapath) Counters(slot uint16) (Counters, error) {
	var per []vemVemCounters
	if err := d.objs.VemStats.Lookup(uint32(slot), &per); err != nil {
		return Counters{}, fmt.Errorf("read counters of slot %d: %w", slot, err)
	}
	var c Counters
	for _, p := range per {
		c.RxPackets += p.RxPackets
		c.RxBytes += p.RxBytes
		c.TxPackets += p.TxPackets
		c.TxBytes += p.TxBytes
		for i := range c.Drops {
			c.Drops[i] += p.Drops[i]
		}
	}
	return c, nil
}

// ResetCounters zeroes a slot, for a port that takes over a freed slot:
// its counters and its storm control buckets, which would otherwise hold
// up to a second of the former port's floods against it.
func (d *Datapath) ResetCounters(slot uint16) error {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return fmt.Errorf("reset counters of slot %d: %w", slot, err)
	}
	zero := make([]vemVemCounters, n)
	if err := d.objs.VemStats.Put(uint32(slot), zero); err != nil {
		return fmt.Errorf("reset counters of slot %d: %w", slot, err)
	}
	if err := d.objs.VemStorms.Put(uint32(slot), vemVemStorm{}); err != nil {
		return fmt.Errorf("reset storm control of slot %d: %w", slot, err)
	}
	return nil
}
