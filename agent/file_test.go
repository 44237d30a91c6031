package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigFileSizeCapped: a file far larger than any valid one is
// refused at once, naming the limit, instead of parsed for seconds.
func TestConfigFileSizeCapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vem.yaml")
	big := append([]byte("host: hv1\n# "), bytes.Repeat([]byte("x"), 5<<20)...)
	if err := os.WriteFile(path, big, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := LoadFile(path)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("LoadFile of 5 MB = %v, want the size refused", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Logf("refusing took %v", d) // a figure, not a verdict
	}
	if err := os.WriteFile(path, []byte(localYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); err != nil {
		t.Fatalf("LoadFile of a valid file: %v", err)
	}
}

// TestCheckRefusesWhatTheAgentRefuses: --check runs the engine's checks
// on this host's interfaces, not only the file's own validation.
func TestCheckRefusesWhatTheAgentRefuses(t *testing.T) {
	cfg := mustParse(t, strings.Replace(vxlanYAML, "198.51.100.1}", "198.51.100.9}", 1))
	if _, err := checkSwitch(cfg, testLinks); err == nil || !strings.Contains(err.Error(), "198.51.100.9") {
		t.Errorf("check of a VTEP on no interface = %v, want an error naming it", err)
	}
	res, err := checkSwitch(mustParse(t, localYAML+`  - {interface: tap-gone, mac: "52:54:00:00:00:99", segment: red}`+"\n"), testLinks)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Absent) != 1 || res.Absent[0] != "tap-gone" {
		t.Errorf("absent %v, want [tap-gone]", res.Absent)
	}
}
