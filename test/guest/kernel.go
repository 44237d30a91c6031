package guest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// kernelMeta is the package that depends on the current Debian kernel.
const kernelMeta = "linux-image-amd64"

// kernelPackage returns the kernel package linux-image-amd64 depends on
// and the version apt would fetch for it.
func kernelPackage(ctx context.Context) (pkg, version string, err error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", kernelMeta).Output()
	if err != nil {
		return "", "", fmt.Errorf("guest: apt-cache depends %s: %w (run apt-get update)", kernelMeta, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			pkg = f[1]
			break
		}
	}
	if pkg == "" {
		return "", "", fmt.Errorf("guest: apt-cache depends %s names no linux-image package (run apt-get update):\n%s", kernelMeta, out)
	}
	out, err = exec.CommandContext(ctx, "apt-cache", "show", "--no-all-versions", pkg).Output()
	if err != nil {
		return "", "", fmt.Errorf("guest: apt-cache show %s: %w", pkg, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "Version: "); ok {
			return pkg, strings.TrimSpace(v), nil
		}
	}
	return "", "", fmt.Errorf("guest: apt-cache show %s: no Version", pkg)
}

// packageVersion returns an installed package's version.
func packageVersion(ctx context.Context, pkg string) (string, error) {
	out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f", "${Version}", pkg).Output()
	if err != nil || len(out) == 0 {
		return "", fmt.Errorf("dpkg-query %s: not installed (scripts/deps.sh test installs it): %v", pkg, err)
	}
	return string(out), nil
}

// unpackKernel fetches pkg at version into cache (kept: the .deb is the
// slow part) and unpacks it under tmp; it returns the unpacked root.
func unpackKernel(ctx context.Context, cache, tmp, pkg, version string) (string, error) {
	deb := filepath.Join(cache, fmt.Sprintf("%s_%s_amd64.deb", pkg, strings.ReplaceAll(version, ":", "%3a")))
	if _, err := os.Stat(deb); err != nil {
		dl := filepath.Join(tmp, "dl")
		if err := os.Mkdir(dl, 0o755); err != nil {
			return "", fmt.Errorf("guest: %w", err)
		}
		cmd := exec.CommandContext(ctx, "apt-get", "download", "-q", pkg+"="+version)
		cmd.Dir = dl
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("guest: apt-get download %s=%s: %w\n%s", pkg, version, err, out)
		}
		got, _ := filepath.Glob(filepath.Join(dl, "*.deb"))
		if len(got) != 1 {
			return "", fmt.Errorf("guest: apt-get download %s left %d .deb files", pkg, len(got))
		}
		if err := os.Rename(got[0], deb); err != nil {
			return "", fmt.Errorf("guest: keep %s: %w", got[0], err)
		}
	}
	root := filepath.Join(tmp, "root")
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, root).CombinedOutput(); err != nil {
		return "", fmt.Errorf("guest: dpkg-deb -x %s: %w\n%s", deb, err, out)
	}
	return root, nil
}
