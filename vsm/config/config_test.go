package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/config"
)

// contract is the VSM file of DESIGN.md, with real paths.
const contract = `name: vsm-a
domain: 100
role: primary                         # standalone | primary | secondary
listen: 203.0.113.1:7443
api: 127.0.0.1:8443
control: {address: 10.0.0.1:7444, peer: 10.0.0.2:7444}
management: {address: 192.0.2.10:7445, peer: 192.0.2.11:7445}
heartbeatLossInterval: 15s
dataDir: /var/lib/vsm
tls: {ca: /etc/vsm/pki/ca.pem, cert: /etc/vsm/pki/vsm-a.pem, key: /etc/vsm/pki/vsm-a-key.pem}
`

func TestParseContract(t *testing.T) {
	c, err := config.Parse([]byte(contract))
	if err != nil {
		t.Fatal(err)
	}
	if c.Role != config.RolePrimary || c.Role.Module() != 1 || c.Control.Peer != "10.0.0.2:7444" ||
		time.Duration(c.HeartbeatLossInterval) != 15*time.Second || c.TLS.Key != "/etc/vsm/pki/vsm-a-key.pem" {
		t.Fatalf("parsed %+v", c)
	}
}

func TestParseDefaults(t *testing.T) {
	c, err := config.Parse([]byte("name: v\ndomain: 1\nlisten: 127.0.0.1:7443\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Role != config.RoleStandalone || c.API != config.DefaultAPI || c.DataDir != config.DefaultDataDir ||
		time.Duration(c.HeartbeatLossInterval) != config.DefaultHeartbeatLossInterval {
		t.Fatalf("defaults %+v", c)
	}
}

func TestParseProblems(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replace [2]string // in contract
		line    int
		field   string
		msg     string
	}{
		{"unknown field", [2]string{"dataDir:", "datadir:"}, 9, "datadir", "unknown field"},
		{"domain range", [2]string{"domain: 100", "domain: 4096"}, 2, "domain", "outside"},
		{"role", [2]string{"role: primary", "role: tertiary"}, 3, "role", "not one of"},
		{"listen", [2]string{"listen: 203.0.113.1:7443", "listen: vsm-a:7443"}, 4, "listen", "not an IP address"},
		{"api not loopback", [2]string{"api: 127.0.0.1:8443", "api: 0.0.0.0:8443"}, 5, "api", "loopback"},
		{"control peer is self", [2]string{"peer: 10.0.0.2:7444", "peer: 10.0.0.1:7444"}, 6, "control.peer", "own address"},
		{"control missing in a pair", [2]string{"control: {address: 10.0.0.1:7444, peer: 10.0.0.2:7444}\n", ""}, 1, "control", "required"},
		{"management port", [2]string{"192.0.2.11:7445", "192.0.2.11:99999"}, 7, "management.peer", "port"},
		{"heartbeat range", [2]string{"heartbeatLossInterval: 15s", "heartbeatLossInterval: 5s"}, 8, "heartbeatLossInterval", "outside"},
		{"heartbeat not a duration", [2]string{"heartbeatLossInterval: 15s", "heartbeatLossInterval: soon"}, 8, "heartbeatLossInterval", "duration"},
		{"dataDir relative", [2]string{"dataDir: /var/lib/vsm", "dataDir: var/lib/vsm"}, 9, "dataDir", "absolute"},
		{"tls key missing", [2]string{", key: /etc/vsm/pki/vsm-a-key.pem", ""}, 10, "tls.key", "required"},
		{"standalone with a peer", [2]string{"role: primary", "role: standalone"}, 6, "control", "only a primary or secondary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte(strings.Replace(contract, tc.replace[0], tc.replace[1], 1)))
			var ve *spec.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a validation error", err)
			}
			for _, p := range ve.Problems {
				if p.Field == tc.field && p.Line == tc.line && strings.Contains(p.Msg, tc.msg) {
					return
				}
			}
			t.Fatalf("problems %v; want line %d: %s: ...%s...", ve.Problems, tc.line, tc.field, tc.msg)
		})
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vsm.yaml")
	if err := os.WriteFile(path, []byte("name: v\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "domain: required") {
		t.Fatalf("got %v", err)
	}
	if _, err := config.Load(filepath.Join(t.TempDir(), "none.yaml")); err == nil {
		t.Fatal("loaded a missing file")
	}
}
