package bpf

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrNoBPFFS is wrapped by CheckBPFFS when no bpffs is mounted where the
// pins go, in a mount namespace the agent shares with the host's
// processes: the agent mounts one itself at start.
var ErrNoBPFFS = errors.New("no bpffs mounted")

// CheckBPFFS tells, mounting nothing, whether pins under dir would
// outlive an agent started as this process was, by the rules the agent
// applies at start (ensureBPFFS): nil when a bpffs is there and lives
// beyond this mount namespace; ErrNoBPFFS when none is mounted but the
// agent would mount one that outlives it; an ErrPrivateBPFFS error, with
// how to fix it, when the pins would die with the agent.
func CheckBPFFS(dir string) error { return hostMountNS.check(dir) }

func (m mountNS) check(dir string) error {
	typ, err := m.statfsType(dir)
	isBPF := err == nil && typ == unix.BPF_FS_MAGIC
	if m.shared() {
		if isBPF {
			return nil
		}
		return fmt.Errorf("%w on %s (the agent mounts one at start; to have it at boot: mount -t bpf bpf %s, "+
			"or the systemd unit sys-fs-bpf.mount)", ErrNoBPFFS, dir, dir)
	}
	return m.ensure(dir) // alone in its namespace, ensure mounts nothing
}
