package ovs

import (
	"context"
	"errors"
	"fmt"
)

// AddBridge adds a bridge on the userspace datapath (datapath_type=netdev),
// in one transaction so ovs-vswitchd never tries the kernel datapath, and
// waits until ovs-vswitchd has created it.
func (s *Switch) AddBridge(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if _, err := s.Vsctl(ctx, "add-br", name, "--", "set", "bridge", name, "datapath_type=netdev"); err != nil {
		return fmt.Errorf("ovs: add bridge %s: %w", name, err)
	}
	return nil
}

// AddBond adds to bridge a balance-tcp bond of ifaces running LACP, active
// or passive, at the fast (1 s) or slow (30 s) rate, and waits until
// ovs-vswitchd has applied it. It is
//
//	ovs-vsctl add-bond BRIDGE BOND IFACES... lacp=active|passive \
//	    other_config:lacp-time=fast|slow bond_mode=balance-tcp
func (s *Switch) AddBond(bridge, bond string, ifaces []string, lacpActive, fast bool) error {
	if len(ifaces) < 2 {
		return errors.New("ovs: add bond: want at least two interfaces")
	}
	mode, rate := "passive", "slow"
	if lacpActive {
		mode = "active"
	}
	if fast {
		rate = "fast"
	}
	args := append([]string{"add-bond", bridge, bond}, ifaces...)
	args = append(args, "lacp="+mode, "other_config:lacp-time="+rate, "bond_mode=balance-tcp")
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if _, err := s.Vsctl(ctx, args...); err != nil {
		return fmt.Errorf("ovs: add bond %s to %s: %w", bond, bridge, err)
	}
	return nil
}

// LACPShow returns the LACP state of a bond, from ovs-appctl lacp/show.
func (s *Switch) LACPShow(bond string) (LACPStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := s.Appctl(ctx, "lacp/show", bond)
	if err != nil {
		return LACPStatus{}, fmt.Errorf("ovs: lacp/show %s: %w", bond, err)
	}
	st, err := ParseLACPShow(out)
	if err != nil {
		return LACPStatus{}, fmt.Errorf("ovs: lacp/show %s: %w", bond, err)
	}
	return st, nil
}

// BondShow returns the state of a bond, from ovs-appctl bond/show.
func (s *Switch) BondShow(bond string) (BondStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := s.Appctl(ctx, "bond/show", bond)
	if err != nil {
		return BondStatus{}, fmt.Errorf("ovs: bond/show %s: %w", bond, err)
	}
	st, err := ParseBondShow(out)
	if err != nil {
		return BondStatus{}, fmt.Errorf("ovs: bond/show %s: %w", bond, err)
	}
	return st, nil
}
