package guest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// AccelEnv, set to "kvm" or "tcg", overrides the probe.
const AccelEnv = "VEM_TEST_ACCEL"

// kvmProbeTimeout bounds the probe boot; a working KVM reaches init in
// about a second.
const kvmProbeTimeout = 20 * time.Second

// probeAccel chooses KVM or TCG for the guest and says why. /dev/kvm
// that opens is not enough: under some nested hypervisors KVM offers so
// few CPU features that the kernel hangs right after decompression
// (measured on a Firecracker VM: QEMU warns "host doesn't support
// requested feature: CPUID.01H:ECX.pni" and the guest prints nothing).
// So the image is booted once under KVM; the verdict is kept beside the
// image, per host kernel.
func probeAccel(ctx context.Context, img *Image, dir string) (string, string) {
	switch v := os.Getenv(AccelEnv); v {
	case "kvm", "tcg":
		return v, AccelEnv + "=" + v
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return "tcg", fmt.Sprintf("no usable /dev/kvm (%v): TCG emulation", err)
	}
	f.Close()
	var u unix.Utsname
	_ = unix.Uname(&u)
	verdict := filepath.Join(dir, "accel-"+unix.ByteSliceToString(u.Release[:]))
	if b, err := os.ReadFile(verdict); err == nil {
		accel, why, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
		return accel, why + " (probed earlier)"
	}
	accel, why := "kvm", "/dev/kvm boots the guest"
	if err := bootProbe(ctx, img, filepath.Dir(verdict)); err != nil {
		accel, why = "tcg", fmt.Sprintf("/dev/kvm exists but the guest does not boot under KVM (%v): TCG emulation", err)
	}
	if ctx.Err() == nil {
		_ = os.WriteFile(verdict, []byte(accel+" "+why+"\n"), 0o644)
	}
	return accel, why
}

// bootProbe boots the image under KVM, without devices, until its init
// speaks on the console.
func bootProbe(ctx context.Context, img *Image, dir string) error {
	tmp, err := os.MkdirTemp(dir, "probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	log := filepath.Join(tmp, "console.log")
	ctx, cancel := context.WithTimeout(ctx, kvmProbeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-accel", "kvm", "-m", "128", "-nographic", "-nodefaults",
		"-no-reboot", "-kernel", img.Kernel, "-initrd", img.Initrd, "-append", "console=ttyS0 panic=-1 loglevel=4",
		"-serial", "file:"+log)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if _, err := WaitLog(ctx, log, "vem-guest: init"); err != nil {
		return fmt.Errorf("no init within %v; qemu said %q", kvmProbeTimeout, strings.TrimSpace(out.String()))
	}
	return nil
}
