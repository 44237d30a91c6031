package guest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCpio: an archive of the writer lists and unpacks with busybox's
// cpio as the kernel would: names, directories made for nested files,
// contents of every size around the 4-byte alignment.
func TestCpio(t *testing.T) {
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skipf("no busybox to read the archive back (package busybox-static): %v", err)
	}
	var buf bytes.Buffer
	w := newCpio(&buf)
	w.dir("bin")
	w.file("init", 0o755, []byte("#!/bin/sh\n"))
	contents := map[string]string{}
	for n := 0; n < 6; n++ {
		name := "bin/f" + strings.Repeat("x", n)
		contents[name] = strings.Repeat("y", n)
		w.file(name, 0o644, []byte(contents[name]))
	}
	if err := w.copyFrom("lib/deep/er/file", 0o644, "cpio.go"); err != nil {
		t.Fatal(err)
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	list := exec.Command("busybox", "cpio", "-t")
	list.Stdin = bytes.NewReader(buf.Bytes())
	out, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("busybox cpio -t: %v\n%s", err, out)
	}
	got := strings.Fields(string(out))
	for _, want := range []string{"bin", "init", "bin/f", "bin/fxxxxx", "lib", "lib/deep", "lib/deep/er", "lib/deep/er/file"} {
		if !slices.Contains(got, want) {
			t.Errorf("archive lacks %s: %v", want, got)
		}
	}
	dir := t.TempDir()
	unpack := exec.Command("busybox", "cpio", "-i", "-d")
	unpack.Dir = dir
	unpack.Stdin = bytes.NewReader(buf.Bytes())
	if out, err := unpack.CombinedOutput(); err != nil {
		t.Fatalf("busybox cpio -i: %v\n%s", err, out)
	}
	for name, want := range contents {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(data) != want {
			t.Errorf("%s unpacked as %q (%v), want %q", name, data, err, want)
		}
	}
}
