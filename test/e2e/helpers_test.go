package e2e

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
)

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// portState finds a port's state in `show ports -o json` output.
func portState(t *testing.T, out, iface string) string {
	t.Helper()
	var ports []api.Port
	if err := json.Unmarshal([]byte(out), &ports); err != nil {
		t.Fatalf("show ports: %v\n%s", err, out)
	}
	for _, p := range ports {
		if p.Interface == iface {
			return p.State
		}
	}
	return ""
}

// macTable reads the MAC table of a segment through vemctl.
func macTable(t *testing.T, h *vemHost, segment string) []api.MACEntry {
	t.Helper()
	out, err := h.vemctl("show", "mac-table", "--segment", segment, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var entries []api.MACEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("show mac-table: %v\n%s", err, out)
	}
	return entries
}

// entryOn returns the port a MAC is learned on in segment, "" if unknown.
func entryOn(t *testing.T, h *vemHost, segment, mac string) string {
	t.Helper()
	for _, e := range macTable(t, h, segment) {
		if e.MAC == mac {
			return e.Port
		}
	}
	return ""
}
