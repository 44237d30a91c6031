package bpf

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedUpToDate rebuilds the eBPF objects and bindings from src/
// exactly as `go generate` does, in a copy of this directory, and fails
// when they differ from the committed ones.
func TestGeneratedUpToDate(t *testing.T) {
	if _, err := exec.LookPath("clang-19"); err != nil {
		t.Fatal("clang-19 is needed to check the committed eBPF objects: run scripts/deps.sh generate")
	}
	dir := filepath.Join(t.TempDir(), "bpf")
	if err := os.CopyFS(filepath.Join(dir, "src"), os.DirFS("src")); err != nil {
		t.Fatal(err)
	}
	tool := filepath.Join(t.TempDir(), "bpf2go")
	if out, err := exec.Command("go", "build", "-o", tool, "github.com/cilium/ebpf/cmd/bpf2go").CombinedOutput(); err != nil {
		t.Fatalf("build bpf2go: %v\n%s", err, out)
	}

	gen, err := os.ReadFile("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	for _, line := range strings.Split(string(gen), "\n") {
		cmdline, ok := strings.CutPrefix(line, "//go:generate go tool bpf2go ")
		if !ok {
			continue
		}
		args, err := splitQuoted(cmdline)
		if err != nil {
			t.Fatalf("gen.go: %v", err)
		}
		cmd := exec.Command(tool, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOPACKAGE=bpf")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("bpf2go %s: %v\n%s", cmdline, err, out)
		}
		runs++
	}
	if runs == 0 {
		t.Fatal("no bpf2go lines found in gen.go")
	}

	generated, _ := filepath.Glob(filepath.Join(dir, "*_bpfel.*"))
	committed, _ := filepath.Glob("*_bpfel.*")
	if len(generated) != len(committed) {
		t.Fatalf("generated %d files, %d committed", len(generated), len(committed))
	}
	for _, g := range generated {
		name := filepath.Base(g)
		want, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%s is generated but not committed", name)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what src/ generates: run make generate and commit", name)
		}
	}
}

// splitQuoted splits a go:generate line into words, honouring "quotes".
func splitQuoted(s string) ([]string, error) {
	var (
		out   []string
		cur   strings.Builder
		quote bool
		word  bool
	)
	for _, r := range s {
		switch {
		case r == '"':
			quote = !quote
			word = true
		case r == ' ' && !quote:
			if word {
				out = append(out, cur.String())
				cur.Reset()
				word = false
			}
		default:
			cur.WriteRune(r)
			word = true
		}
	}
	if quote {
		return nil, os.ErrInvalid
	}
	if word {
		out = append(out, cur.String())
	}
	return out, nil
}
