package hostcheck

import (
	"errors"

	"github.com/vem-switch/vem/bpf"
)

// bpffs checks that pins would outlive the agent, by the rules the agent
// applies at start.
func (h Host) bpffs() Result {
	const item = "bpffs"
	err := h.BPFFS(h.PinDir)
	switch {
	case err == nil:
		return ok(item, "bpffs on %s outlives the agent", h.PinDir)
	case errors.Is(err, bpf.ErrNoBPFFS):
		// The agent mounts one in the host's mount namespace: it works,
		// but a mount at boot is the operator's to make.
		return bad(item, Warn, "mount -t bpf bpf "+h.PinDir+" at boot (the systemd unit sys-fs-bpf.mount does)",
			"no bpffs on %s yet: the agent mounts one at start", h.PinDir)
	case errors.Is(err, bpf.ErrPrivateBPFFS):
		return bad(item, Fail, "run the agent in the host's mount namespace (nsenter --net=/run/netns/NAME, not ip netns exec), "+
			"or mount the host's /sys/fs/bpf into its container with mountPropagation HostToContainer or Bidirectional",
			"pins under %s would die with the agent: no bpffs there outlives this mount namespace", h.PinDir)
	}
	return bad(item, Fail, "mount -t bpf bpf "+h.PinDir, "%v", err)
}
