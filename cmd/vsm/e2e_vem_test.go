package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
)

// buildVSM builds the vsm binary into dir.
func buildVSM(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build vsm with")
	}
	bin := filepath.Join(dir, "vsm")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build vsm: %v\n%s", err, out)
	}
	return bin
}

// freeAddr is a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestEndToEndVEM makes credentials with `vsm certs init`, runs `vsm run`
// with them, attaches a VEM (a real protocol client) that binds a port,
// and reads `vsm show module -o json`; after a restart the VEM, now gone,
// is absent with its port still bound.
func TestEndToEndVEM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the vsm binary")
	}
	dir := t.TempDir()
	bin := buildVSM(t, dir)
	pki := filepath.Join(dir, "pki")
	runBin(t, bin, "certs", "init", "--dir", pki, "--vsm", "vsm-a", "--host", "hv1")
	apiAddr, listenAddr := freeAddr(t), freeAddr(t)
	cfg := writeFile(t, dir, "vsm.yaml", fmt.Sprintf(`name: vsm-a
domain: 100
listen: %s
api: %s
dataDir: %s
tls: {ca: %s, cert: %s, key: %s}
`, listenAddr, apiAddr, filepath.Join(dir, "data"), filepath.Join(pki, "ca.pem"),
		filepath.Join(pki, "vsm-a.pem"), filepath.Join(pki, "vsm-a-key.pem")))
	p := startVSM(t, bin, cfg)
	waitServing(t, apiAddr, p)
	runBin(t, bin, "apply", "-f", writeFile(t, dir, "network.yaml", network), "--config", cfg)

	conf, err := protocol.ClientTLS(protocol.TLSFiles{CA: filepath.Join(pki, "ca.pem"), Cert: filepath.Join(pki, "hv1.pem"),
		Key: filepath.Join(pki, "hv1-key.pem")}, protocol.KindVEM, protocol.KindVSM)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := protocol.Dial(ctx, listenAddr, protocol.ClientConfig{Domain: 100, TLS: conf,
		Host: &spec.Switch{Host: "hv1", Uplink: "eth0", VTEP: &spec.VTEP{Address: "198.51.100.1"}}})
	if err != nil {
		t.Fatalf("dial: %v\n%s", err, p.stderr)
	}
	defer s.Close()
	if err := s.RequestAttach(protocol.AttachReason_ATTACH_REASON_INITIAL); err != nil {
		t.Fatal(err)
	}
	if err := s.AttachPort(ctx, &protocol.PortAttach{Interface: "tap-b", Mac: "52:54:00:00:00:0b", Segment: "db"}); err != nil {
		t.Fatal(err)
	}
	for bound := false; !bound; {
		ev, err := s.Recv(ctx)
		if err != nil {
			t.Fatalf("recv: %v\n%s", err, p.stderr)
		}
		switch e := ev.(type) {
		case *protocol.Config:
			_ = s.Ack(e)
		case *protocol.PortBinding:
			if e.GetRefused() != "" || e.GetVeth() != 1 {
				t.Fatalf("binding %v", e)
			}
			bound = true
		}
	}
	showModule := func(want string) {
		t.Helper()
		var out string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			out = runBin(t, bin, "show", "module", "-o", "json", "--config", cfg)
			if contract(t, out) == want {
				return
			}
		}
		t.Fatalf("show module -o json:\n%s\nwant %s\n%s", out, want, p.stderr)
	}
	showModule(`[{"module":1,"host":"vsm-a","status":"active","ports":0,"vsm":"vsm-a"},{"module":3,"host":"hv1","status":"ok","ports":1,"vsm":"vsm-a"}]`)
	if out := runBin(t, bin, "show", "module", "--config", cfg); !strings.Contains(out, "Virtual Ethernet Module") {
		t.Fatalf("show module:\n%s", out)
	}

	_ = s.Close()
	p.stop(t)
	p = startVSM(t, bin, cfg)
	waitServing(t, apiAddr, p)
	showModule(`[{"module":1,"host":"vsm-a","status":"active","ports":0,"vsm":"vsm-a"},{"module":3,"host":"hv1","status":"absent","ports":1,"vsm":""}]`)
	p.stop(t)
}

// contract is show module's JSON reduced to the contract's fields.
func contract(t *testing.T, out string) string {
	t.Helper()
	var mods []struct {
		Module int    `json:"module"`
		Host   string `json:"host"`
		Status string `json:"status"`
		Ports  int    `json:"ports"`
		VSM    string `json:"vsm"`
	}
	if err := json.Unmarshal([]byte(out), &mods); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	data, _ := json.Marshal(mods)
	return string(data)
}
