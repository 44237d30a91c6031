// Package e2e runs vem end to end on real packets: network-namespace
// topologies, the real vem-agent and vemctl binaries, frames sent and
// captured with packet sockets. The tests need root (CI runs as root).
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Binaries built once for the package.
var (
	agentBin  string
	vemctlBin string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		// Every test skips itself with the reason (topo.RequireRoot).
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "vem-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	agentBin = filepath.Join(dir, "vem-agent")
	vemctlBin = filepath.Join(dir, "vemctl")
	for bin, pkg := range map[string]string{agentBin: "../../cmd/vem-agent", vemctlBin: "../../cmd/vemctl"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			return 1
		}
	}
	return m.Run()
}
