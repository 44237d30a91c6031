package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A veth hands its frames to the peer through the backlog of the CPU that
// sent them. TCP sends one flow from two CPUs (the sending task, and the
// softirq that handles ACKs), so a flow's segments sit in two per-CPU
// backlogs that drain in parallel and overtake each other: the receiver
// sees reordering and the sender retransmits spuriously, with no loss.
// This happens on the VM's own veth hop, before the datapath sees a
// frame, so no eBPF program can undo it. Steering the host end's receive
// queues to one CPU per flow (RPS, by flow hash) puts a flow back in one
// queue. KVM taps are fed by one vhost thread per queue and need nothing.
//
// It is opt-in (vem-agent --steer-veth-flows): RPS hashes each direction
// of a flow by its sender's socket hash, so data and ACKs may land on
// different CPUs; on a 2-core host that halved throughput in half the
// runs (benchmark: 8-9 against 12.8 Gbit/s), for no retransmits.

// steerVEth enables RPS over all CPUs on the receive queues of a veth's
// host end. /sys shows the devices of the network namespace that mounted
// it, which need not be the agent's, so it writes through a sysfs mounted
// in a private mount namespace on a thread of its own.
func steerVEth(iface string) error {
	if strings.ContainsAny(iface, "/") || iface == "" || iface == "." || iface == ".." {
		return fmt.Errorf("invalid interface name %q", iface)
	}
	mask := cpuMask(runtime.NumCPU())
	errc := make(chan error, 1)
	go func() {
		// The thread's mount namespace is changed for good: keep it
		// locked so the runtime retires it when this goroutine ends.
		runtime.LockOSThread()
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("unshare mount namespace: %w", err)
			}
			if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
				return fmt.Errorf("make mounts private: %w", err)
			}
			dir, err := os.MkdirTemp("", "vem-sysfs")
			if err != nil {
				return err
			}
			defer os.Remove(dir)
			if err := unix.Mount("sysfs", dir, "sysfs", 0, ""); err != nil {
				return fmt.Errorf("mount sysfs: %w", err)
			}
			defer unix.Unmount(dir, unix.MNT_DETACH)
			queues, err := filepath.Glob(filepath.Join(dir, "class/net", iface, "queues/rx-*/rps_cpus"))
			if err != nil || len(queues) == 0 {
				return fmt.Errorf("no receive queues for %s in sysfs", iface)
			}
			var errs []error
			for _, q := range queues {
				if err := os.WriteFile(q, []byte(mask), 0o644); err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		}()
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("steer %s (RPS): %w", iface, err)
	}
	return nil
}

// cpuMask is the hex CPU mask sysfs takes for n CPUs, in 32-bit groups.
func cpuMask(n int) string {
	var groups []string
	for n > 0 {
		bits := min(n, 32)
		groups = append([]string{strconv.FormatUint(uint64(1)<<bits-1, 16)}, groups...)
		n -= bits
	}
	return strings.Join(groups, ",")
}
