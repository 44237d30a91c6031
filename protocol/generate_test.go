package protocol

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedUpToDate regenerates the Go code from vem.proto with
// generate.sh into a temporary directory and fails when it differs from
// the committed files.
func TestGeneratedUpToDate(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Fatal("protoc is needed to check the committed protocol code: run scripts/deps.sh generate")
	}
	dir := t.TempDir()
	if out, err := exec.Command("./generate.sh", dir).CombinedOutput(); err != nil {
		t.Fatalf("generate.sh: %v\n%s", err, out)
	}
	for _, name := range []string{"vem.pb.go", "vem_grpc.pb.go"} {
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s was not generated: %v", name, err)
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%s is generated but not committed", name)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what vem.proto generates: run make generate and commit", name)
		}
	}
}
