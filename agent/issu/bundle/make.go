package bundle

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// MakeOptions are the manifest fields a build chooses; the version and the
// protocol come from the agent binary itself.
type MakeOptions struct {
	UpgradesFrom string
	DowngradesTo string
}

// Make writes a bundle into dir (created; it must not exist or be empty)
// from the vem-agent binary at agent: the binary, and a manifest whose
// version and protocol are what `agent --version` says and whose checksum
// is the copy's.
func Make(ctx context.Context, dir, agent string, o MakeOptions) (*Bundle, error) {
	ctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, agent, "--version")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("make bundle: %s --version: %w%s", agent, err, tail(stderr.String()))
	}
	f := strings.Fields(stdout.String())
	if len(f) != 4 || f[0] != "vem-agent" || f[2] != "protocol" {
		return nil, fmt.Errorf("make bundle: %s --version: %q is not \"vem-agent VERSION protocol MAJOR.MINOR\"", agent, strings.TrimSpace(stdout.String()))
	}
	m := Manifest{Format: Format, Version: f[1], Protocol: f[3], UpgradesFrom: o.UpgradesFrom, DowngradesTo: o.DowngradesTo,
		Files: map[string]string{AgentFile: strings.Repeat("0", 64)}}
	if err := m.Check(); err != nil { // before writing anything
		return nil, fmt.Errorf("make bundle: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("make bundle: %w", err)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) > 0 {
		return nil, fmt.Errorf("make bundle: %s is not an empty directory (%v)", dir, err)
	}
	sum, err := copyExecutable(agent, filepath.Join(dir, AgentFile))
	if err != nil {
		return nil, fmt.Errorf("make bundle: %w", err)
	}
	m.Files[AgentFile] = sum
	data, err := m.Marshal()
	if err != nil {
		return nil, fmt.Errorf("make bundle: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), data, 0o644); err != nil {
		return nil, fmt.Errorf("make bundle: %w", err)
	}
	return Load(dir)
}

// copyExecutable copies src to dst, mode 0755, and returns the copy's
// checksum.
func copyExecutable(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("copy %s: %w", src, err)
	}
	return fileSum(dst)
}
