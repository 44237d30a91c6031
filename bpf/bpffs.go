package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrPrivateBPFFS is wrapped when the pins would die with the agent: the
// bpffs it would pin in is private to the agent's own mount namespace
// (`ip netns exec` gives a command one, with a fresh /sys), so a restarted
// agent would start from empty maps and stop forwarding meanwhile.
var ErrPrivateBPFFS = errors.New("pins would not outlive the agent")

// bpffsHint says how to run the agent so that its pins outlive it.
const bpffsHint = "mount bpffs in the host's mount namespace (mount -t bpf bpf /sys/fs/bpf) and " +
	"start the agent there: in a network namespace with `nsenter --net=/run/netns/NAME` rather than " +
	"`ip netns exec`, in a container with the host's /sys/fs/bpf mounted (hostPath, mountPropagation " +
	"HostToContainer or Bidirectional)"

// mountNS is what ensureBPFFS asks of the system; tests fake it.
type mountNS struct {
	// statfsType returns the filesystem type of a path.
	statfsType func(path string) (int64, error)
	// dev returns the device a path lives on.
	dev func(path string) (uint64, error)
	// sameAsInit reports whether this process shares PID 1's mount
	// namespace; ok is false when that cannot be told.
	sameAsInit func() (same, ok bool)
	// initRoot is where PID 1's root is seen from here.
	initRoot string
	mount    func(dir string) error
}

var hostMountNS = mountNS{
	statfsType: func(path string) (int64, error) {
		var st unix.Statfs_t
		if err := unix.Statfs(path, &st); err != nil {
			return 0, err
		}
		return st.Type, nil
	},
	dev: func(path string) (uint64, error) {
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			return 0, err
		}
		return st.Dev, nil
	},
	sameAsInit: func() (bool, bool) {
		self, err1 := os.Readlink("/proc/self/ns/mnt")
		init, err2 := os.Readlink("/proc/1/ns/mnt")
		if err1 != nil || err2 != nil {
			return false, false
		}
		return self == init, true
	},
	initRoot: "/proc/1/root",
	mount: func(dir string) error {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
			return fmt.Errorf("mount bpffs on %s: %w", dir, err)
		}
		return nil
	},
}

// ensureBPFFS makes sure dir is a bpffs whose pins outlive the agent:
// in the host's mount namespace it mounts one if none is there; in a
// private mount namespace it refuses a missing or private bpffs, since
// pins there die with the agent.
func ensureBPFFS(dir string) error { return hostMountNS.ensure(dir) }

func (m mountNS) ensure(dir string) error {
	typ, err := m.statfsType(dir)
	isBPF := err == nil && typ == unix.BPF_FS_MAGIC
	same, known := m.sameAsInit()
	if !isBPF {
		if known && !same {
			return fmt.Errorf("no bpffs on %s in the agent's mount namespace, which is not the host's: one mounted here "+
				"would die with the agent: %w; %s", dir, ErrPrivateBPFFS, bpffsHint)
		}
		return m.mount(dir)
	}
	if known && !same {
		// The same bpffs is visible to PID 1 when the host's is
		// mounted in (a container, HostToContainer): same device.
		ours, err1 := m.dev(dir)
		theirs, err2 := m.dev(filepath.Join(m.initRoot, dir))
		if err1 == nil && err2 == nil && ours != theirs {
			return fmt.Errorf("the bpffs on %s is private to the agent's mount namespace: %w; %s", dir, ErrPrivateBPFFS, bpffsHint)
		}
	}
	return nil
}
