package bpf

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// TestEnsureBPFFS checks when the pins would outlive the agent, over a
// fake of the system.
func TestEnsureBPFFS(t *testing.T) {
	const dir = "/sys/fs/bpf"
	tests := []struct {
		name      string
		bpffs     bool
		same, ok  bool
		devs      map[string]uint64
		wantMount bool
		wantErr   error
	}{
		{name: "host namespace, mounted", bpffs: true, same: true, ok: true},
		{name: "host namespace, not mounted: mounts", same: true, ok: true, wantMount: true},
		{name: "ip netns exec: fresh /sys, no bpffs", same: false, ok: true, wantErr: ErrPrivateBPFFS},
		{name: "private bpffs", bpffs: true, same: false, ok: true,
			devs: map[string]uint64{dir: 40, "/init" + dir: 41}, wantErr: ErrPrivateBPFFS},
		{name: "container with the host's bpffs", bpffs: true, same: false, ok: true,
			devs: map[string]uint64{dir: 40, "/init" + dir: 40}},
		{name: "namespaces unknown: as before", same: false, ok: false, wantMount: true},
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
				dev: func(p string) (uint64, error) {
					if d, ok := tt.devs[p]; ok {
						return d, nil
					}
					return 0, errors.New("no such path")
				},
				sameAsInit: func() (bool, bool) { return tt.same, tt.ok },
				initRoot:   "/init",
				mount:      func(string) error { mounted = true; return nil },
			}
			err := m.ensure(dir)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("ensure = %v, want %v", err, tt.wantErr)
			}
			if mounted != tt.wantMount {
				t.Errorf("mounted = %v, want %v", mounted, tt.wantMount)
			}
		})
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
