package hostcheck

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// MinKernel is the oldest kernel the agent runs on: tcx links came in 6.6.
var MinKernel = [2]int{6, 6}

// parseRelease returns a kernel release's major and minor numbers
// ("6.12.48+deb13-amd64" is 6, 12).
func parseRelease(rel string) (int, int, error) {
	f := strings.SplitN(rel, ".", 3)
	if len(f) < 2 {
		return 0, 0, fmt.Errorf("kernel release %q is not MAJOR.MINOR…", rel)
	}
	major, err := strconv.Atoi(f[0])
	if err != nil {
		return 0, 0, fmt.Errorf("kernel release %q: major %q: %w", rel, f[0], err)
	}
	minor := f[1] // "12", or "6-rc1" from a two-part release
	if i := strings.IndexFunc(minor, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minor = minor[:i]
	}
	m, err := strconv.Atoi(minor)
	if err != nil {
		return 0, 0, fmt.Errorf("kernel release %q: minor %q: %w", rel, f[1], err)
	}
	return major, m, nil
}

// kernel checks the running kernel's version.
func (h Host) kernel() Result {
	const item = "kernel"
	fix := fmt.Sprintf("boot Linux %d.%d or later (tcx links; Debian 13's 6.12 or bookworm-backports)", MinKernel[0], MinKernel[1])
	rel, err := h.KernelRelease()
	if err != nil {
		return bad(item, Fail, fix, "cannot read the kernel release: %v", err)
	}
	major, minor, err := parseRelease(rel)
	if err != nil {
		return bad(item, Fail, fix, "%v", err)
	}
	if major < MinKernel[0] || (major == MinKernel[0] && minor < MinKernel[1]) {
		return bad(item, Fail, fix, "Linux %s is older than %d.%d", rel, MinKernel[0], MinKernel[1])
	}
	return ok(item, "Linux %s (%d.%d or later)", rel, MinKernel[0], MinKernel[1])
}

// btf checks that the kernel publishes its BTF, which the programs'
// CO-RE relocations and the maps' pretty-printing need.
func (h Host) btf() Result {
	const item = "btf"
	if err := h.Exists(h.BTFPath); err != nil {
		return bad(item, Fail, "boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (every Debian, Ubuntu and Fedora kernel is)",
			"%s missing: %v", h.BTFPath, err)
	}
	return ok(item, "%s present", h.BTFPath)
}

// tcx checks that the kernel attaches tcx links and that this process may
// load programs.
func (h Host) tcx() Result {
	const item = "tcx"
	err := h.TCX()
	switch {
	case err == nil:
		return ok(item, "the kernel attaches tcx links")
	case errors.Is(err, os.ErrPermission):
		return bad(item, Fail, "run as root, or with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON",
			"not permitted to load an eBPF program: %v", err)
	}
	return bad(item, Fail, fmt.Sprintf("boot Linux %d.%d or later, built with CONFIG_BPF_SYSCALL and CONFIG_NET_XGRESS",
		MinKernel[0], MinKernel[1]), "no tcx: %v", err)
}
