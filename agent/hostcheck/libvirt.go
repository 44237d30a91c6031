package hostcheck

import (
	"context"
)

// libvirtd checks that libvirtd's socket answers: the libvirt hook and
// the domain resync reach VMs through it. Its absence is a warning: a
// host may attach ports by other means (vemctl port attach).
func (h Host) libvirtd(ctx context.Context) Result {
	const item = "libvirtd"
	const fix = "install and start libvirtd (systemctl enable --now libvirtd), or ignore on a host without libvirt"
	if err := h.Exists(h.LibvirtSocket); err != nil {
		return bad(item, Warn, fix, "no socket %s: VMs' ports are attached only by vemctl port attach", h.LibvirtSocket)
	}
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	c, err := h.Dial(ctx, "unix", h.LibvirtSocket)
	if err != nil {
		return bad(item, Warn, fix, "socket %s does not answer: %v", h.LibvirtSocket, err)
	}
	c.Close()
	return ok(item, "socket %s answers", h.LibvirtSocket)
}
