package portchannel

import (
	"fmt"

	"github.com/vishvananda/netlink"
)

type netlinkHandle = netlink.Handle

// deleteLink deletes an interface through h.
func deleteLink(h *netlink.Handle, name string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find %s: %w", name, err)
	}
	if err := h.LinkDel(l); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}
