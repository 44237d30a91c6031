package agent

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/vem-switch/vem/lacp"
)

// identity is the LACP identity of this host: the actor system MAC, one
// key per port-channel and one port number per member. It is created once
// and kept in the state directory, so restarts, upgrades and failovers
// never change what partners see (a changed system ID or key makes every
// partner renegotiate and bundles collapse).
type identity struct {
	path string
	// SystemMAC is locally administered and random, made on first use.
	SystemMAC lacp.MAC `json:"systemMAC"`
	// Keys are the port-channels' LACP keys, by name.
	Keys map[string]uint16 `json:"keys"`
	// Ports are the members' LACP port numbers, by interface.
	Ports map[string]uint16 `json:"ports"`
}

// loadIdentity reads the identity, creating an empty one if there is none.
func loadIdentity(path string) (*identity, error) {
	id := &identity{path: path, Keys: map[string]uint16{}, Ports: map[string]uint16{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return id, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read LACP identity: %w", err)
	}
	if err := json.Unmarshal(data, id); err != nil {
		return nil, fmt.Errorf("parse LACP identity %s: %w", path, err)
	}
	if id.Keys == nil {
		id.Keys = map[string]uint16{}
	}
	if id.Ports == nil {
		id.Ports = map[string]uint16{}
	}
	return id, nil
}

// ensure gives the port-channel and its members a key and port numbers,
// keeping the ones they have, and saves the identity when anything new was
// assigned.
func (id *identity) ensure(channel string, members []string) error {
	changed := false
	if id.SystemMAC.IsZero() {
		var m lacp.MAC
		if _, err := rand.Read(m[:]); err != nil {
			return fmt.Errorf("make LACP system ID: %w", err)
		}
		m[0] = m[0]&^0x01 | 0x02 // unicast, locally administered
		id.SystemMAC, changed = m, true
	}
	if _, ok := id.Keys[channel]; !ok {
		id.Keys[channel], changed = nextFree(id.Keys), true
	}
	for _, m := range members {
		if _, ok := id.Ports[m]; !ok {
			id.Ports[m], changed = nextFree(id.Ports), true
		}
	}
	if !changed || id.path == "" { // no path: a check, which writes nothing
		return nil
	}
	data, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(id.path, data); err != nil {
		return fmt.Errorf("save LACP identity: %w", err)
	}
	return nil
}

// nextFree returns the lowest number from 1 not in use.
func nextFree(used map[string]uint16) uint16 {
	taken := map[uint16]bool{}
	for _, n := range used {
		taken[n] = true
	}
	n := uint16(1)
	for taken[n] {
		n++
	}
	return n
}
