package topo

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// killLeftovers SIGKILLs every process whose network namespace is the one
// bound at nsPath, other than this one. Such processes were started inside the
// topology but not tracked (daemons that fork or detach, orphans of tracked
// processes); while they live, the namespace and its links survive the
// deletion of its name. Each is signalled through a pidfd after re-checking
// its namespace, so a recycled PID is never hit.
func killLeftovers(nsPath string) error {
	var target unix.Stat_t
	if err := unix.Stat(nsPath, &target); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("stat %s: %w", nsPath, err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("list processes: %w", err)
	}
	self := os.Getpid()
	var errs []error
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || !inNetns(pid, &target) {
			continue
		}
		if err := killPID(pid, &target); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// inNetns reports whether process pid is in the namespace whose nsfs inode
// is target.
func inNetns(pid int, target *unix.Stat_t) bool {
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(pid)+"/ns/net", &st); err != nil {
		return false
	}
	return st.Dev == target.Dev && st.Ino == target.Ino
}

// killPID sends SIGKILL to pid if, once pinned by a pidfd, it is still in the
// target namespace, and waits up to a few seconds for it to exit.
func killPID(pid int, target *unix.Stat_t) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	if !inNetns(pid, target) {
		return nil
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		return fmt.Errorf("kill leftover process %d: %w", pid, err)
	}
	// A pidfd polls readable once the process has exited, zombie or not; its
	// namespaces are released by then.
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := unix.Poll(fds, max(0, int(time.Until(deadline).Milliseconds())))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for leftover process %d: %w", pid, err)
		}
		if n == 0 {
			return fmt.Errorf("leftover process %d did not exit after SIGKILL", pid)
		}
		return nil
	}
}
