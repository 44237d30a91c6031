package bpf

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCheckBPFFS: the check says what ensure would do, and never mounts.
func TestCheckBPFFS(t *testing.T) {
	tests := []struct {
		name                     string
		bpffs, shared, elsewhere bool
		wantErr                  error
	}{
		{name: "host namespace, mounted", bpffs: true, shared: true},
		{name: "host namespace, not mounted", shared: true, wantErr: ErrNoBPFFS},
		{name: "ip netns exec: fresh /sys, no bpffs", wantErr: ErrPrivateBPFFS},
		{name: "alone with a private bpffs", bpffs: true, wantErr: ErrPrivateBPFFS},
		{name: "container with the host's bpffs", bpffs: true, elsewhere: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mountNS{
				statfsType: func(string) (int64, error) {
					if tt.bpffs {
						return unix.BPF_FS_MAGIC, nil
					}
					return unix.SYSFS_MAGIC, nil
				},
				shared:    func() bool { return tt.shared },
				elsewhere: func(string) bool { return tt.elsewhere },
				mount:     func(string) error { t.Error("check mounted a bpffs"); return nil },
			}
			err := m.check("/sys/fs/bpf")
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("check = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
