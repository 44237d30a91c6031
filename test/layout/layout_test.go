// Package layout holds tests of the repository's package structure.
package layout

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/vem-switch/vem"

// TestOnlyAgentAndCmdImportAgent keeps the data flow one way: desired
// state (spec) flows into the agent, which wires the libraries; no
// library reaches back into the daemon.
func TestOnlyAgentAndCmdImportAgent(t *testing.T) {
	for _, pkg := range listDeps(t) {
		rel := strings.TrimPrefix(pkg.ImportPath, module+"/")
		if rel == "agent" || strings.HasPrefix(rel, "agent/") || strings.HasPrefix(rel, "cmd/") || strings.HasPrefix(rel, "test/") {
			continue
		}
		for _, dep := range pkg.Deps {
			if dep == module+"/agent" || strings.HasPrefix(dep, module+"/agent/") {
				t.Errorf("%s depends on %s: only agent/, cmd/ and test/ may", pkg.ImportPath, dep)
			}
		}
	}
}

// TestSpecKnowsNoDatapath keeps spec free of eBPF, so the supervisor and
// the DPA can speak it without loading programs.
func TestSpecKnowsNoDatapath(t *testing.T) {
	for _, pkg := range listDeps(t) {
		if pkg.ImportPath != module+"/spec" {
			continue
		}
		for _, dep := range pkg.Deps {
			if dep == module+"/bpf" || strings.HasPrefix(dep, "github.com/cilium/ebpf") {
				t.Errorf("spec depends on %s", dep)
			}
		}
		return
	}
	t.Fatal("package spec not listed")
}

type goPackage struct {
	ImportPath string
	Deps       []string
}

func listDeps(t *testing.T) []goPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}
