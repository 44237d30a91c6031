package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/vem-switch/vem/test/topo"
)

// buildAgent builds ./cmd/vem-agent of the module bench runs in.
func buildAgent(ctx context.Context, dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no go tool to build vem-agent (or pass -agent): %w", err)
	}
	out := filepath.Join(dir, "vem-agent")
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, "github.com/vem-switch/vem/cmd/vem-agent")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build vem-agent: %w: %s", err, b)
	}
	return out, nil
}

// startAgentIn runs vem-agent with cfgFile and stateDir in ns, through
// nsenter --net so that its pins land in the host's bpffs.
func startAgentIn(ns *topo.NS, agentBin, cfgFile, stateDir string, extra ...string) (*topo.Proc, error) {
	args := append([]string{agentBin, "--config", cfgFile, "--state-dir", stateDir}, extra...)
	return ns.StartNetOnly(args...)
}

// uninstallAgent removes the pins and state of an agent instance; it is
// a no-op when there is nothing to remove.
func uninstallAgent(agentBin, instance, stateDir string) error {
	out, err := exec.Command(agentBin, "--uninstall", "--instance", instance,
		"--state-dir", stateDir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("vem-agent --uninstall %s: %w: %s", instance, err, out)
	}
	return nil
}

// writeAgentConfig writes host's agent configuration cfg to cfgFile in
// stateDir, which it creates, and has tp.Close uninstall the instance.
func writeAgentConfig(tp *topo.Topology, agentBin, host, instance, stateDir, cfgFile, cfg string) error {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("agent state directory: %w", err)
	}
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("write %s agent configuration: %w", host, err)
	}
	// Runs at Close after the agents are stopped, however the run ends.
	tp.Cleanup(func() {
		if err := uninstallAgent(agentBin, instance, stateDir); err != nil {
			fmt.Fprintln(os.Stderr, "bench: cleanup:", err)
		}
	})
	return nil
}
