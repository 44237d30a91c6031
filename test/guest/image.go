package guest

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

//go:embed init.sh
var initScript []byte

// DefaultCacheDir is where Build keeps the kernel package and the images.
const DefaultCacheDir = "/var/cache/vem-test/guest"

// busyboxPath is busybox-static's binary.
const busyboxPath = "/bin/busybox"

// Modules are what the guest loads at boot: the NIC driver and the PCI
// transport it sits on; their dependencies come along.
var Modules = []string{"virtio_pci", "virtio_net"}

// Image is a built guest: a kernel and its initramfs.
type Image struct {
	// Kernel is the vmlinuz file, Initrd the initramfs (cpio, newc).
	Kernel, Initrd string
	// KernelPackage is the kernel's Debian package and version,
	// BusyboxVersion busybox-static's.
	KernelPackage, BusyboxVersion string
	// Cached is set when Build found the image already built.
	Cached bool
	// Accel is how QEMU runs the guest here, "kvm" or "tcg", and
	// AccelWhy says why (see probeAccel).
	Accel, AccelWhy string
}

// Options adjust Build.
type Options struct {
	// CacheDir is DefaultCacheDir when empty.
	CacheDir string
	// Programs are host binaries copied into the initramfs's /bin, with the
	// shared libraries ldd lists for them (e.g. /usr/bin/iperf3).
	Programs []string
}

// Build returns the guest image, building it into the cache when the
// cache has none for these package versions. It needs apt-get, dpkg-deb,
// dpkg-query and busybox-static.
func Build(ctx context.Context, o Options) (*Image, error) {
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir
	}
	pkg, ver, err := kernelPackage(ctx)
	if err != nil {
		return nil, err
	}
	bb, err := packageVersion(ctx, "busybox-static")
	if err != nil {
		return nil, fmt.Errorf("guest: busybox-static: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s %s\nbusybox %s\n%s\n", pkg, ver, bb, initScript)
	progs := append([]string(nil), o.Programs...)
	sort.Strings(progs)
	for _, p := range progs {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("guest: program: %w", err)
		}
		fmt.Fprintf(h, "prog %s %d %d\n", p, fi.Size(), fi.ModTime().UnixNano())
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]
	img := &Image{KernelPackage: pkg + " " + ver, BusyboxVersion: bb}
	dir := filepath.Join(o.CacheDir, key)
	img.Kernel, img.Initrd = filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initrd.img")
	if _, err := os.Stat(filepath.Join(dir, "done")); err == nil {
		img.Cached = true
		img.Accel, img.AccelWhy = probeAccel(ctx, img, dir)
		return img, nil
	}
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("guest: cache: %w", err)
	}
	tmp, err := os.MkdirTemp(o.CacheDir, "build-")
	if err != nil {
		return nil, fmt.Errorf("guest: cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	root, err := unpackKernel(ctx, o.CacheDir, tmp, pkg, ver)
	if err != nil {
		return nil, err
	}
	if err := buildInto(ctx, tmp, root, progs); err != nil {
		return nil, err
	}
	// Publish the directory whole: a concurrent or interrupted build
	// leaves no half image under the key.
	_ = os.RemoveAll(dir)
	if err := os.Rename(filepath.Join(tmp, "out"), dir); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("guest: publish image: %w", err)
	}
	img.Accel, img.AccelWhy = probeAccel(ctx, img, dir)
	return img, nil
}

// buildInto writes tmp/out/{vmlinuz,initrd.img,done} from the unpacked
// kernel package at root.
func buildInto(ctx context.Context, tmp, root string, progs []string) error {
	out := filepath.Join(tmp, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		return fmt.Errorf("guest: %w", err)
	}
	vmlinuz, err := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if err != nil || len(vmlinuz) != 1 {
		return fmt.Errorf("guest: kernel package has %d vmlinuz files, want 1", len(vmlinuz))
	}
	if err := copyFile(vmlinuz[0], filepath.Join(out, "vmlinuz")); err != nil {
		return err
	}
	modDirs, err := filepath.Glob(filepath.Join(root, "lib", "modules", "*"))
	if err != nil || len(modDirs) != 1 {
		return fmt.Errorf("guest: kernel package has %d module trees, want 1", len(modDirs))
	}
	mods, err := moduleClosure(modDirs[0], Modules)
	if err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(out, "initrd.img"))
	if err != nil {
		return fmt.Errorf("guest: %w", err)
	}
	w := newCpio(f)
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "lib", "lib/modules", "lib64", "lib/x86_64-linux-gnu"} {
		w.dir(d)
	}
	w.file("init", 0o755, initScript)
	if err := w.copyFrom("bin/busybox", 0o755, busyboxPath); err != nil {
		return err
	}
	names := make([]string, 0, len(mods))
	for _, m := range mods {
		if err := w.copyFrom("lib/modules/"+m.name+".ko", 0o644, m.path); err != nil {
			return err
		}
		names = append(names, m.name)
	}
	w.file("lib/modules/load", 0o644, []byte(strings.Join(names, "\n")+"\n"))
	if err := addPrograms(ctx, w, progs); err != nil {
		return err
	}
	if err := w.close(); err != nil {
		return fmt.Errorf("guest: write initramfs: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("guest: write initramfs: %w", err)
	}
	return os.WriteFile(filepath.Join(out, "done"), []byte(strings.Join(names, " ")+"\n"), 0o644)
}

// addPrograms copies each program to /bin and the libraries ldd lists for
// it to their own paths.
func addPrograms(ctx context.Context, w *cpioWriter, progs []string) error {
	seen := map[string]bool{}
	for _, p := range progs {
		if err := w.copyFrom("bin/"+filepath.Base(p), 0o755, p); err != nil {
			return err
		}
		out, err := exec.CommandContext(ctx, "ldd", p).Output()
		if err != nil {
			return fmt.Errorf("guest: ldd %s: %w", p, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			lib := libPath(line)
			if lib == "" || seen[lib] {
				continue
			}
			seen[lib] = true
			if err := w.copyFrom(strings.TrimPrefix(lib, "/"), 0o755, lib); err != nil {
				return err
			}
		}
	}
	return nil
}

// libPath returns the file of one ldd line ("libc.so.6 => /lib/... (0x...)"
// or "/lib64/ld-linux-x86-64.so.2 (0x...)"), "" for the vdso.
func libPath(line string) string {
	f := strings.Fields(line)
	switch {
	case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
		return f[2]
	case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
		return f[0]
	}
	return ""
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("guest: %w", err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("guest: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("guest: copy %s: %w", src, err)
	}
	return out.Close()
}
