package topo

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
)

// testSeq numbers the topologies ForTest makes within this process; with the
// PID it makes their prefixes unique on the host.
var testSeq atomic.Uint64

// ForTest returns a new Topology with a prefix unique to this process and
// call, closed by t.Cleanup. It fails the test, rather than skipping it, if
// the Topology cannot be made; a Close error fails it too.
func ForTest(t testing.TB) *Topology {
	t.Helper()
	// The test's temporary directories are removed by one cleanup,
	// registered at the first TempDir call: make that call now, so they
	// are removed after the topology has stopped its processes (which
	// may be writing into them), not before.
	_ = t.TempDir()
	tp, err := New(fmt.Sprintf("vt%d-%d", os.Getpid(), testSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tp.Close(); err != nil {
			t.Errorf("close topology %s: %v", tp.Prefix(), err)
		}
	})
	return tp
}

// RequireRoot skips the test when it is not running as root, saying why.
// Namespaces, veths, AF_PACKET sockets and bpffs all need it; CI runs as root,
// so these tests do run there.
func RequireRoot(t testing.TB) {
	t.Helper()
	if uid := os.Geteuid(); uid != 0 {
		t.Skipf("needs root: creates network namespaces, veths and raw sockets (running as uid %d)", uid)
	}
}
