package protocol

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// TestGenerateDevPKI writes the files `vsm certs init` promises, with the
// kinds and key usages the protocol checks, and refuses bad names and
// existing files.
func TestGenerateDevPKI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	if err := GenerateDevPKI(dir, []string{"vsm-a"}, []string{"hv1"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		kind  Kind
		usage []x509.ExtKeyUsage
	}{
		{"vsm-a", KindVSM, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}},
		{"hv1", KindVEM, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, tt.name+".pem"))
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(data)
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			id, err := identityOf(cert)
			if err != nil || id != (Identity{Name: tt.name, Kind: tt.kind}) {
				t.Errorf("identity %v, %v", id, err)
			}
			if len(cert.ExtKeyUsage) != len(tt.usage) {
				t.Errorf("key usages %v, want %v", cert.ExtKeyUsage, tt.usage)
			}
			st, err := os.Stat(filepath.Join(dir, tt.name+"-key.pem"))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("key file: %v, mode %v", err, st.Mode())
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.pem")); err != nil {
		t.Error(err)
	}

	bad := []struct {
		name        string
		vsms, hosts []string
	}{
		{"existing files", []string{"vsm-a"}, nil},
		{"reserved name", nil, []string{"ca"}},
		{"path", nil, []string{"../x"}},
		{"duplicate", []string{"x"}, []string{"x"}},
		{"empty", nil, []string{""}},
	}
	for _, b := range bad {
		d := dir
		if b.name != "existing files" {
			d = t.TempDir()
		}
		if err := GenerateDevPKI(d, b.vsms, b.hosts); err == nil {
			t.Errorf("%s: accepted", b.name)
		}
	}
}
