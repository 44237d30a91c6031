package deploy_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/test/topo"
)

// freeAddr is a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestVSMRunsWithUnitCapabilities runs the real supervisor with exactly
// vsm.service's capability set and no_new_privs: it reads its root-only
// TLS key, opens its state and serves its API and VEM sessions.
func TestVSMRunsWithUnitCapabilities(t *testing.T) {
	topo.RequireRoot(t) // setpriv lowers the bounding set: CAP_SETPCAP
	bins := binaries(t)
	dir := t.TempDir()
	vsm := filepath.Join(bins, "vsm")
	if out, err := exec.Command(vsm, "certs", "init", "--dir", filepath.Join(dir, "pki"), "--vsm", "vsm-a", "--host", "hv1").CombinedOutput(); err != nil {
		t.Fatalf("vsm certs init: %v\n%s", err, out)
	}
	key := filepath.Join(dir, "pki", "vsm-a-key.pem")
	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "vsm.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`name: vsm-a
domain: 7
role: standalone
listen: %s
api: %s
dataDir: %s
tls: {ca: %s, cert: %s, key: %s}
`, freeAddr(t), freeAddr(t), filepath.Join(dir, "data"), filepath.Join(dir, "pki", "ca.pem"),
		filepath.Join(dir, "pki", "vsm-a.pem"), key)), 0o644); err != nil {
		t.Fatal(err)
	}

	set := "-all"
	for _, c := range unitValues(t, "systemd/vsm.service", "Service", "CapabilityBoundingSet") {
		set += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run := exec.CommandContext(ctx, "setpriv", "--bounding-set="+set, "--inh-caps=-all", "--no-new-privs", "--",
		vsm, "run", "--config", cfg)
	var out strings.Builder
	run.Stdout, run.Stderr = &out, &out
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		run.Process.Signal(os.Interrupt)
		run.Wait()
	}()

	var show string
	waitFor(t, 15*time.Second, "vsm show module", func() bool {
		b, err := exec.Command(vsm, "--config", cfg, "show", "module").CombinedOutput()
		show = string(b)
		return err == nil && strings.Contains(show, "vsm-a")
	})
	if eff, nnp := procCaps(t, run.Process.Pid); eff&^(1<<capBits["CAP_NET_BIND_SERVICE"]) != 0 || !nnp {
		t.Fatalf("vsm runs with CapEff %#x no_new_privs %v", eff, nnp)
	}
	if strings.Contains(out.String(), "permission denied") {
		t.Fatalf("vsm logged a permission error:\n%s", out.String())
	}
}
