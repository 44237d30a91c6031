package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/test/ovs"
	"github.com/vem-switch/vem/test/topo"
)

// runCheck runs `vem-agent check --config cfg` in ns and returns its
// output and exit status. netOnly enters the network namespace alone
// (the host's mounts, as the agent runs); otherwise ip netns exec gives
// the command a private mount namespace and a /sys without bpffs.
func runCheck(t *testing.T, ns *topo.NS, netOnly bool, args ...string) (string, int) {
	t.Helper()
	argv := append([]string{"ip", "netns", "exec", ns.Name()}, agentBin, "check")
	if netOnly {
		argv = append([]string{"nsenter", "--net=" + ns.Path(), "--"}, agentBin, "check")
	}
	cmd := exec.Command(argv[0], append(argv[1:], args...)...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("run %v: %v\n%s", argv, err, out)
	return "", 0
}

// line returns the report's line for an item ("FAIL  uplink  …"), or "".
func line(out, item string) string {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[1] == item {
			return l
		}
		if len(f) >= 3 && f[1] == "vsm" && "vsm "+f[2] == item {
			return l
		}
	}
	return ""
}

// expiredHostCert writes a CA and a VEM certificate for hv1 that expired
// yesterday into dir, as ca.pem, hv1.pem and hv1-key.pem.
func expiredHostCert(t *testing.T, dir string) protocol.TLSFiles {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "expired test CA"},
		NotBefore: now.Add(-72 * time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2),
		Subject:   pkix.Name{CommonName: "hv1", OrganizationalUnit: []string{string(protocol.KindVEM)}},
		NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	f := protocol.TLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "hv1.pem"), Key: filepath.Join(dir, "hv1-key.pem")}
	for path, b := range map[string]*pem.Block{f.CA: {Type: "CERTIFICATE", Bytes: caDER},
		f.Cert: {Type: "CERTIFICATE", Bytes: der}, f.Key: {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// TestHostCheck runs the real `vem-agent check` on a host namespace
// where, in turn, each requirement is met or missing: a VSM that answers
// over mutual TLS, an uplink member that does not exist and an MTU too
// small for VXLAN, a VSM address nobody listens on, an expired host
// certificate, an Open vSwitch database that answers and one that is
// missing, and a bpffs private to the command's mount namespace.
func TestHostCheck(t *testing.T) {
	topo.RequireRoot(t)
	tp := topo.ForTest(t)
	host, err := tp.NS("host")
	if err != nil {
		t.Fatal(err)
	}
	sw, err := tp.NS("sw")
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.Veth(host, "up0", sw, "sw0"); err != nil { // MTU 1500
		t.Fatal(err)
	}
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	if err := protocol.GenerateDevPKI(pkiDir, []string{"vsm-a"}, []string{"hv1"}); err != nil {
		t.Fatal(err)
	}
	pf := func(name string) protocol.TLSFiles {
		return protocol.TLSFiles{CA: filepath.Join(pkiDir, "ca.pem"), Cert: filepath.Join(pkiDir, name+".pem"),
			Key: filepath.Join(pkiDir, name+"-key.pem")}
	}
	// A VSM stand-in in the host namespace: mutual TLS with the VSM's
	// credentials, then it speaks first as a gRPC server does.
	conf, err := protocol.ServerTLS(pf("vsm-a"), protocol.KindVEM)
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if err := host.Do(func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, conf)
				tc.SetDeadline(time.Now().Add(10 * time.Second))
				if tc.Handshake() == nil {
					tc.Write([]byte{0})
					tc.Read(make([]byte, 1))
				}
			}()
		}
	}()
	vsmAddr := ln.Addr().String()
	expired := expiredHostCert(t, t.TempDir())
	// A real ovsdb-server for the Open vSwitch port source's item.
	if err := ovs.CheckInstalled(); err != nil {
		t.Fatal(err)
	}
	db, err := ovs.StartDB(host, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Stop()

	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	vsmFile := func(addr string, f protocol.TLSFiles) string {
		return fmt.Sprintf("host: hv1\nuplink: up0\nvsm:\n  domain: 100\n  addresses: [%q]\n  tls: {ca: %s, cert: %s, key: %s}\n",
			addr, f.CA, f.Cert, f.Key)
	}
	tests := []struct {
		name     string
		cfg      string
		netOnly  bool
		wantExit int
		want     map[string]string // item -> its line's status and a substring
	}{
		{"everything met", vsmFile(vsmAddr, pf("hv1")), true, 0, map[string]string{
			"kernel": "OK", "btf": "OK", "tcx": "OK", "bpffs": "OK", "config": "OK", "uplink": "OK up0 present",
			"vsm-cert": "OK valid until", "vsm " + vsmAddr: "OK VSM vsm-a answers over mutual TLS"}},
		{"uplink member missing, MTU short of VXLAN", `host: hv1
uplink: po1
vtep: {address: 198.51.100.1}
portChannels:
  - {name: po1, mode: static, members: [{interface: up0}, {interface: eth9}]}
segments:
  - {name: db, type: vxlan, vni: 5001, mtu: 1500, vteps: [198.51.100.2]}
`, true, 1, map[string]string{
			"uplink":     "FAIL no interface eth9",
			"uplink-mtu": "FAIL VXLAN needs MTU 1550 (the largest VXLAN segment's MTU plus 50): up0 has 1500",
			"vsm":        "SKIP standalone"}},
		{"VSM address nobody listens on", vsmFile("203.0.113.1:7443", pf("hv1")), true, 1, map[string]string{
			"vsm-cert": "OK", "vsm 203.0.113.1:7443": "FAIL not reachable"}},
		{"host certificate expired", vsmFile(vsmAddr, expired), true, 1, map[string]string{
			"vsm-cert": "FAIL expired on", "vsm " + vsmAddr: "SKIP not dialled"}},
		{"Open vSwitch database answers", fmt.Sprintf("host: hv1\nuplink: up0\nsegments: [{name: web, type: vlan, vlan: 100}]\novs: {database: %q}\n", db.Address()),
			true, 0, map[string]string{"ovsdb": "OK serves Open_vSwitch"}},
		{"Open vSwitch database missing", "host: hv1\nuplink: up0\nsegments: [{name: web, type: vlan, vlan: 100}]\novs: {database: \"unix:/run/vem-e2e-none/db.sock\"}\n",
			true, 1, map[string]string{"ovsdb": "FAIL no socket /run/vem-e2e-none/db.sock"}},
		{"bpffs private to the mount namespace (ip netns exec)", "host: hv1\nsegments: [{name: lab, type: local}]\n", false, 1,
			map[string]string{"bpffs": "FAIL pins under /sys/fs/bpf would die with the agent", "uplink": "SKIP"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := write(fmt.Sprintf("vem-%d.yaml", i), tt.cfg)
			start := time.Now()
			out, code := runCheck(t, host, tt.netOnly, "--config", cfg, "--timeout", "3s")
			t.Logf("vem-agent check (%s, exit %d):\n%s", time.Since(start).Round(time.Millisecond), code, out)
			if code != tt.wantExit {
				t.Errorf("exit %d, want %d", code, tt.wantExit)
			}
			for item, want := range tt.want {
				st, sub, _ := strings.Cut(want, " ")
				l := line(out, item)
				if !strings.HasPrefix(l, st+" ") || !strings.Contains(l, sub) {
					t.Errorf("item %s: line %q, want %s with %q", item, l, st, sub)
				}
			}
			// Every item not met says how to fix it.
			lines := strings.Split(out, "\n")
			for j, l := range lines {
				if (strings.HasPrefix(l, "FAIL") || strings.HasPrefix(l, "WARN")) &&
					(j+1 >= len(lines) || !strings.Contains(lines[j+1], "fix: ")) {
					t.Errorf("no fix after %q", l)
				}
			}
		})
	}
}
