package bpf

import (
	"fmt"
	"hash/fnv"
	"os"
	"testing"
)

// openTest opens a datapath under a unique instance and removes its pins
// when the test ends, whatever happens.
func openTest(t testing.TB) *Datapath {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to load eBPF programs: run the tests as root (CI does)")
	}
	// Instance names are at most 32 characters: the process, a hash of
	// the test's name (unique) and as much of the name as fits (readable).
	h := fnv.New32a()
	h.Write([]byte(t.Name()))
	instance := fmt.Sprintf("t%d-%08x-%s", os.Getpid(), h.Sum32(), sanitize(t.Name()))
	instance = instance[:min(len(instance), 32)]
	// Registered before Open: a load that fails half-way leaves pins too.
	t.Cleanup(func() {
		if err := Remove(instance); err != nil {
			t.Errorf("remove pins: %v", err)
		}
	})
	d, err := Open(instance)
	if err != nil {
		t.Fatalf("open datapath: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}

func TestOpenAdoptsPinnedMaps(t *testing.T) {
	d := openTest(t)
	if err := d.SetPort(Port{Ifindex: 42, Kind: PortVEth, Segment: 7, Slot: 3}); err != nil {
		t.Fatal(err)
	}
	// A second load of the same instance (a restarted agent) sees the entry.
	d2, err := Open(d.dir[len(PinRoot)+1:])
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer d2.Close()
	ports, err := d2.Ports()
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 1 || ports[0].Ifindex != 42 || ports[0].Segment != 7 || ports[0].Slot != 3 {
		t.Fatalf("adopted port table = %+v, want the port written before", ports)
	}
}
