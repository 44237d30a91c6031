package hostcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vem-switch/vem/bpf"
)

// System returns the real edges: uname, the filesystem, the kernel's
// eBPF, netlink, the network and the clock.
func System() Host {
	return Host{
		KernelRelease: kernelRelease,
		Exists:        func(path string) error { _, err := os.Stat(path); return err },
		TCX:           probeTCX,
		BPFFS:         bpf.CheckBPFFS,
		Link:          linkMTU,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		ReadFile:      os.ReadFile,
		Now:           time.Now,
		Timeout:       3 * time.Second,
		BTFPath:       DefaultBTFPath,
		PinDir:        DefaultPinDir,
		LibvirtSocket: DefaultLibvirtSocket,
	}
}

func kernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// probeTCX loads the smallest classifier and attaches it as a tcx link to
// an interface index no interface has: a kernel with tcx answers "no
// such device", one without says it does not know the link type. Nothing
// is attached anywhere.
func probeTCX() error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.SchedCLS,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		return fmt.Errorf("load a test classifier: %w", err)
	}
	defer prog.Close()
	l, err := link.AttachTCX(link.TCXOptions{Program: prog, Attach: ebpf.AttachTCXIngress, Interface: 0x7fffffff})
	if err == nil {
		l.Close()
		return nil
	}
	if errors.Is(err, unix.ENODEV) {
		return nil
	}
	return fmt.Errorf("attach a tcx link: %w", err)
}

// linkMTU returns an interface's MTU in this network namespace.
func linkMTU(name string) (int, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return 0, fmt.Errorf("%s: %w", name, ErrNoLink)
		}
		return 0, fmt.Errorf("look up %s: %w", name, err)
	}
	return l.Attrs().MTU, nil
}
