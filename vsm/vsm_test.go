package vsm_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm"
	"github.com/vem-switch/vem/vsm/config"
)

func pkiFiles(dir, name string) *config.TLS {
	return &config.TLS{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestShowModule serves a standalone VSM with its VEM sessions, attaches
// a VEM over real TLS and reads GET /v1/modules: the contract's
// [{"module","host","status","ports","vsm"}] with the VSM as module 1.
func TestShowModule(t *testing.T) {
	pki := t.TempDir()
	if err := protocol.GenerateDevPKI(pki, []string{"vsm-a"}, []string{"hv1"}); err != nil {
		t.Fatal(err)
	}
	apiLn, vemLn := listen(t), listen(t)
	cfg := &config.Config{Name: "vsm-a", Domain: 100, Listen: vemLn.Addr().String(), API: apiLn.Addr().String(),
		DataDir: t.TempDir(), TLS: pkiFiles(pki, "vsm-a")}
	cfg.ApplyDefaults()
	sup, err := vsm.New(cfg, zaptest.NewLogger(t), vsm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- sup.Serve(ctx, apiLn, vemLn) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	conf, err := protocol.ClientTLS(protocol.TLSFiles(*pkiFiles(pki, "hv1")), protocol.KindVEM, protocol.KindVSM)
	if err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	defer dcancel()
	s, err := protocol.Dial(dctx, cfg.Listen, protocol.ClientConfig{Domain: 100, TLS: conf,
		Host: &spec.Switch{Host: "hv1", Uplink: "eth0", VTEP: &spec.VTEP{Address: "198.51.100.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.RequestAttach(protocol.AttachReason_ATTACH_REASON_INITIAL); err != nil {
		t.Fatal(err)
	}
	want := `[{"module":1,"host":"vsm-a","status":"active","ports":0,"vsm":"vsm-a"},{"module":3,"host":"hv1","status":"ok","ports":0,"vsm":"vsm-a"}]`
	var got string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if got = modules(t, cfg.API); got == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("modules %s, want %s", got, want)
}

// modules is GET /v1/modules reduced to the contract's fields.
func modules(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/v1/modules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Modules []struct {
			Module int    `json:"module"`
			Host   string `json:"host"`
			Status string `json:"status"`
			Ports  int    `json:"ports"`
			VSM    string `json:"vsm"`
		} `json:"modules"`
	}
	if err := json.Unmarshal(data, &body); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	out, _ := json.Marshal(body.Modules)
	return string(out)
}

// TestNewRefusesCredentials refuses certificates VEMs would refuse.
func TestNewRefusesCredentials(t *testing.T) {
	pki := t.TempDir()
	if err := protocol.GenerateDevPKI(pki, []string{"vsm-a", "vsm-b"}, []string{"hv1"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		tls  *config.TLS
		want string
	}{
		{"another VSM's certificate", pkiFiles(pki, "vsm-b"), `certificate of "vsm-b"`},
		{"a VEM's certificate", pkiFiles(pki, "hv1"), "vem"},
		{"no such file", pkiFiles(pki, "nobody"), "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := &config.Config{Name: "vsm-a", Domain: 100, Listen: "127.0.0.1:0", DataDir: t.TempDir(), TLS: c.tls}
			cfg.ApplyDefaults()
			sup, err := vsm.New(cfg, nil, vsm.Options{})
			if err == nil {
				_ = sup.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v, want %q", err, c.want)
			}
		})
	}
}
