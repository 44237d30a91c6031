package bpf

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// TestEnsureBPFFS checks when the pins would outlive the agent, over a
// fake of the system.
func TestEnsureBPFFS(t *testing.T) {
	tests := []struct {
		name      string
		bpffs     bool
		shared    bool
		elsewhere bool
		wantMount bool
		wantErr   error
	}{
		{name: "host namespace, mounted", bpffs: true, shared: true},
		{name: "host namespace, not mounted: mounts", shared: true, wantMount: true},
		{name: "ip netns exec: fresh /sys, no bpffs", wantErr: ErrPrivateBPFFS},
		{name: "alone with a private bpffs", bpffs: true, wantErr: ErrPrivateBPFFS},
		{name: "container with the host's bpffs", bpffs: true, elsewhere: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mounted := false
			m := mountNS{
				statfsType: func(string) (int64, error) {
					if tt.bpffs {
						return unix.BPF_FS_MAGIC, nil
					}
					return unix.SYSFS_MAGIC, nil
				},
				shared:    func() bool { return tt.shared },
				elsewhere: func(string) bool { return tt.elsewhere },
				mount:     func(string) error { mounted = true; return nil },
			}
			err := m.ensure("/sys/fs/bpf")
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("ensure = %v, want %v", err, tt.wantErr)
			}
			if mounted != tt.wantMount {
				t.Errorf("mounted = %v, want %v", mounted, tt.wantMount)
			}
		})
	}
	// This test process shares its mount namespace with the shell that
	// started it.
	if !sharesMountNS() {
		t.Log("this test runs alone in its mount namespace")
	}
}

// TestCheckInstance: no instance name reaches outside PinRoot.
func TestCheckInstance(t *testing.T) {
	for _, name := range []string{"", ".", "..", "a/b", "../etc", "a b", "x234567890123456789012345678901234"} {
		if checkInstance(name) == nil {
			t.Errorf("checkInstance(%q) = nil, want an error", name)
		}
		if Remove(name) == nil {
			t.Errorf("Remove(%q) = nil, want an error", name)
		}
	}
	for _, name := range []string{"default", "hv-1_a"} {
		if err := checkInstance(name); err != nil {
			t.Errorf("checkInstance(%q) = %v", name, err)
		}
	}
}
