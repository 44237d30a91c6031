package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

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
	// shared reports whether another process is in this process's mount
	// namespace, which then outlives the agent.
	shared func() bool
	// elsewhere reports whether the bpffs mounted on dir outlives this
	// mount namespace: its mount propagates from or to another one, or
	// another process sees the same filesystem on dir from its root.
	elsewhere func(dir string) bool
	mount     func(dir string) error
}

var hostMountNS = mountNS{
	statfsType: func(path string) (int64, error) {
		var st unix.Statfs_t
		if err := unix.Statfs(path, &st); err != nil {
			return 0, err
		}
		return st.Type, nil
	},
	shared:    sharesMountNS,
	elsewhere: func(dir string) bool { return propagated(dir) || seenElsewhere(dir) },
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

// ensureBPFFS makes sure dir is a bpffs whose pins outlive the agent.
// In a mount namespace other processes share (the host's, as systemd or
// nsenter --net start the agent), it mounts one if none is there. Alone
// in its mount namespace (`ip netns exec`, a container of its own), the
// agent accepts only a bpffs that lives on outside it.
func ensureBPFFS(dir string) error { return hostMountNS.ensure(dir) }

func (m mountNS) ensure(dir string) error {
	typ, err := m.statfsType(dir)
	isBPF := err == nil && typ == unix.BPF_FS_MAGIC
	if m.shared() {
		if isBPF {
			return nil
		}
		return m.mount(dir)
	}
	if !isBPF {
		return fmt.Errorf("no bpffs on %s, and the agent is alone in its mount namespace: one mounted here "+
			"would die with the agent: %w; %s", dir, ErrPrivateBPFFS, bpffsHint)
	}
	if !m.elsewhere(dir) {
		return fmt.Errorf("the bpffs on %s is private to the agent's mount namespace: %w; %s", dir, ErrPrivateBPFFS, bpffsHint)
	}
	return nil
}

// sharesMountNS reports whether any other process is in this process's
// mount namespace. Processes whose namespace cannot be read are skipped.
func sharesMountNS() bool {
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return true // cannot tell: behave as before
	}
	me := strconv.Itoa(os.Getpid())
	return anyProcess(func(pid string) bool {
		ns, err := os.Readlink(filepath.Join("/proc", pid, "ns/mnt"))
		return pid != me && err == nil && ns == self
	})
}

// seenElsewhere reports whether another process, from its own root, sees
// the filesystem mounted on dir.
func seenElsewhere(dir string) bool {
	var ours unix.Stat_t
	if unix.Stat(dir, &ours) != nil {
		return false
	}
	me := strconv.Itoa(os.Getpid())
	return anyProcess(func(pid string) bool {
		var st unix.Stat_t
		return pid != me && unix.Stat(filepath.Join("/proc", pid, "root", dir), &st) == nil && st.Dev == ours.Dev
	})
}

// propagated reports whether the mount on dir takes part in mount
// propagation (a container's HostToContainer or Bidirectional mount of
// the host's bpffs): its mountinfo line carries shared: or master:.
func propagated(dir string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 7 || f[4] != dir {
			continue
		}
		for _, opt := range f[6:] {
			if opt == "-" {
				break
			}
			if strings.HasPrefix(opt, "shared:") || strings.HasPrefix(opt, "master:") {
				return true
			}
		}
	}
	return false
}

// anyProcess reports whether f holds for any process in /proc.
func anyProcess(f func(pid string) bool) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range entries {
		if n := e.Name(); n[0] >= '0' && n[0] <= '9' && f(n) {
			return true
		}
	}
	return false
}
