package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// HashMode picks the fields that choose a port-channel member.
type HashMode uint32

// Hash modes; the values are the datapath's.
const (
	HashSrcDstMAC      HashMode = 0
	HashSrcDstIP       HashMode = 1
	HashSrcDstIPL4Port HashMode = 2
)

// MaxMembers is the most members the datapath hashes over.
const MaxMembers = 16

// Member is one distributing uplink member.
type Member struct {
	Ifindex int
	Slot    uint16
}

// Uplink is the set of members frames leave on, in hash order. An empty
// set makes segments that need the uplink drop (reason no-uplink).
type Uplink struct {
	Hash    HashMode
	Members []Member
}

// SetUplink replaces the distributing member set atomically.
func (d *Datapath) SetUplink(u Uplink) error {
	if len(u.Members) > MaxMembers {
		return fmt.Errorf("uplink: %d members, at most %d", len(u.Members), MaxMembers)
	}
	v := vemVemUplink{Nmembers: uint32(len(u.Members)), Hash: uint32(u.Hash)}
	for i, m := range u.Members {
		v.Ifindex[i] = uint32(m.Ifindex)
		v.Slot[i] = m.Slot
	}
	if err := d.objs.VemUplinks.Put(uint32(0), &v); err != nil {
		return fmt.Errorf("write uplink: %w", err)
	}
	return nil
}

// DeleteUplink removes the uplink; a missing one is not an error.
func (d *Datapath) DeleteUplink() error {
	err := d.objs.VemUplinks.Delete(uint32(0))
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("delete uplink: %w", err)
	}
	return nil
}

// Uplink reads the distributing member set.
func (d *Datapath) Uplink() (Uplink, error) {
	var v vemVemUplink
	if err := d.objs.VemUplinks.Lookup(uint32(0), &v); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return Uplink{}, nil
		}
		return Uplink{}, fmt.Errorf("read uplink: %w", err)
	}
	u := Uplink{Hash: HashMode(v.Hash)}
	for i := uint32(0); i < v.Nmembers && i < MaxMembers; i++ {
		u.Members = append(u.Members, Member{Ifindex: int(v.Ifindex[i]), Slot: v.Slot[i]})
	}
	return u, nil
}
