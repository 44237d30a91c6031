package agent

import (
	"os"
	"strings"
)

// bulkLinkChanges is how many tcx attaches or detaches in one apply make
// the reconciler expedite RCU grace periods: each attach and detach waits
// for a grace period under the RTNL lock (about 14 ms here), so 4,000
// ports took 57 s to bring up; expedited, 0.2 ms each. Zero: any link
// change expedites, since a single port attach is what a libvirt hook
// waits for (the grace period was 11 of its 14 ms, measured with
// BenchmarkHookLatency).
const bulkLinkChanges = 0

// rcuExpediter switches the kernel's RCU grace periods to expedited for
// the length of a bulk of link changes (/sys/kernel/rcu_expedited), and
// back to what they were.
type rcuExpediter interface {
	// Expedite turns expedited grace periods on and returns the function
	// that restores the previous setting; a no-op when they already were
	// on or cannot be changed.
	Expedite() (restore func())
}

// sysfsRCU is the real rcuExpediter.
type sysfsRCU struct{ path string }

func (s sysfsRCU) Expedite() func() {
	path := s.path
	if path == "" {
		path = "/sys/kernel/rcu_expedited"
	}
	cur, err := os.ReadFile(path)
	if err != nil || strings.TrimSpace(string(cur)) != "0" {
		return func() {}
	}
	if os.WriteFile(path, []byte("1"), 0o644) != nil {
		return func() {}
	}
	return func() { os.WriteFile(path, []byte("0"), 0o644) }
}
