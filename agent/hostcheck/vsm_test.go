package hostcheck

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/protocol"
)

// pki makes a development PKI (VSMs vsm-a and vsm-b, host hv1) in a
// directory of its own.
func pki(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := protocol.GenerateDevPKI(dir, []string{"vsm-a", "vsm-b"}, []string{"hv1"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func files(dir, name string) protocol.TLSFiles {
	return protocol.TLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, name+".pem"),
		Key: filepath.Join(dir, name+"-key.pem")}
}

// fakeVSM listens on loopback with f's credentials and, like a gRPC
// server, speaks first once mutual TLS succeeded.
func fakeVSM(t *testing.T, f protocol.TLSFiles) string {
	t.Helper()
	conf, err := protocol.ServerTLS(f, protocol.KindVEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if c.(*tls.Conn).Handshake() == nil {
					c.Write([]byte{0})
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					c.Read(make([]byte, 1)) // until the client hangs up
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// deadAddress is a loopback address nobody listens on.
func deadAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// vsmConfig is a VSM-mode file for hv1 with host credentials f.
func vsmConfig(t *testing.T, f protocol.TLSFiles, addrs ...string) Config {
	t.Helper()
	return parse(t, fmt.Sprintf(`host: hv1
uplink: eth1
vtep: {address: 198.51.100.1}
vsm:
  domain: 100
  addresses: [%s]
  tls: {ca: %s, cert: %s, key: %s}
`, strings.Join(addrs, ", "), f.CA, f.Cert, f.Key))
}

func TestVSMReachable(t *testing.T) {
	dir := pki(t)
	a, b := fakeVSM(t, files(dir, "vsm-a")), fakeVSM(t, files(dir, "vsm-b"))
	rs := fakeHost().Run(context.Background(), vsmConfig(t, files(dir, "hv1"), a, b))
	for _, item := range []string{"vsm-cert", "vsm " + a, "vsm " + b, "uplink", "uplink-mtu", "config"} {
		if r := find(t, rs, item); r.Status != OK {
			t.Errorf("%s: %+v", item, r)
		}
	}
	if r := find(t, rs, "vsm "+b); !strings.Contains(r.Detail, "VSM vsm-b answers over mutual TLS") {
		t.Errorf("vsm-b: %+v", r)
	}
	if Failed(rs) {
		t.Errorf("failed: %+v", rs)
	}
}

// TestVSMMissing takes away each thing the VSM session needs in turn.
func TestVSMMissing(t *testing.T) {
	dir, other := pki(t), pki(t)
	good := fakeVSM(t, files(dir, "vsm-a"))
	dead := deadAddress(t)
	cert, err := parseCerts(must(os.ReadFile(files(dir, "hv1").Cert)))
	if err != nil {
		t.Fatal(err)
	}
	notAfter := cert[0].NotAfter
	// A VSM that accepts only the other CA's hosts, and one whose own
	// certificate is from the other CA.
	refusing := fakeVSM(t, protocol.TLSFiles{CA: files(other, "vsm-a").CA, Cert: files(dir, "vsm-a").Cert, Key: files(dir, "vsm-a").Key})
	untrusted := fakeVSM(t, files(other, "vsm-a"))

	tests := []struct {
		name   string
		host   protocol.TLSFiles
		addrs  []string
		now    time.Time
		item   string
		status Status
		detail string
		failed bool
	}{
		{"nobody listens", files(dir, "hv1"), []string{dead}, time.Time{}, "vsm " + dead, Fail, "not reachable", true},
		{"one of the pair down", files(dir, "hv1"), []string{good, dead}, time.Time{}, "vsm " + dead, Warn, "not reachable", false},
		{"certificate expired", files(dir, "hv1"), []string{good}, notAfter.Add(time.Hour), "vsm-cert", Fail, "expired on", true},
		{"certificate expiring", files(dir, "hv1"), []string{good}, notAfter.Add(-10 * 24 * time.Hour), "vsm-cert", Warn, "expires in 10 days", false},
		{"certificate not yet valid", files(dir, "hv1"), []string{good}, time.Now().Add(-24 * time.Hour), "vsm-cert", Fail, "not valid before", true},
		{"certificate from another CA", protocol.TLSFiles{CA: files(dir, "hv1").CA, Cert: files(other, "hv1").Cert, Key: files(other, "hv1").Key},
			[]string{good}, time.Time{}, "vsm-cert", Fail, "does not chain to the CA", true},
		{"key of another host", protocol.TLSFiles{CA: files(dir, "hv1").CA, Cert: files(dir, "hv1").Cert, Key: files(other, "hv1").Key},
			[]string{good}, time.Time{}, "vsm-cert", Fail, "private key does not match", true},
		{"a VSM's certificate as the host's", files(dir, "vsm-b"), []string{good}, time.Time{}, "vsm-cert", Fail, "this side is a vem", true},
		{"no certificate file", protocol.TLSFiles{CA: files(dir, "hv1").CA, Cert: filepath.Join(dir, "nope.pem"), Key: files(dir, "hv1").Key},
			[]string{good}, time.Time{}, "vsm-cert", Fail, "no such file", true},
		{"VSM refuses the host", files(dir, "hv1"), []string{refusing}, time.Time{}, "vsm " + refusing, Fail, "refused this host's certificate", true},
		{"VSM not trusted", files(dir, "hv1"), []string{untrusted}, time.Time{}, "vsm " + untrusted, Fail, "TLS with the VSM failed", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fakeHost()
			if !tt.now.IsZero() {
				h.Now = func() time.Time { return tt.now }
			}
			rs := h.Run(context.Background(), vsmConfig(t, tt.host, tt.addrs...))
			r := find(t, rs, tt.item)
			if r.Status != tt.status || !strings.Contains(r.Detail, tt.detail) || r.Fix == "" {
				t.Errorf("%s = %+v, want %v with %q and a fix", tt.item, r, tt.status, tt.detail)
			}
			if Failed(rs) != tt.failed {
				t.Errorf("Failed() = %v, want %v: %+v", Failed(rs), tt.failed, rs)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
