package protocol

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// devValidity is how long development certificates are valid.
const devValidity = 10 * 365 * 24 * time.Hour

// pkiNameRE is what may name a VSM or a host in a development PKI: a DNS
// label-like name that is also a safe file name.
var pkiNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// GenerateDevPKI writes a development certificate authority and a
// certificate for every VSM and host into dir, as `vsm certs init` does:
// dir/ca.pem, and dir/NAME.pem with dir/NAME-key.pem for every name. VSM
// certificates serve and dial (VSM to VSM); host certificates only dial.
// Existing files are never overwritten. The CA's key is not kept: a
// development PKI is made again whole when hosts change.
func GenerateDevPKI(dir string, vsmNames, hostNames []string) error {
	seen := map[string]bool{}
	for _, n := range append(append([]string{}, vsmNames...), hostNames...) {
		if !pkiNameRE.MatchString(n) || n == "ca" {
			return fmt.Errorf("dev PKI: name %q is not 1..63 of [A-Za-z0-9._-] starting with a letter or digit, or is the reserved \"ca\"", n)
		}
		if seen[n] {
			return fmt.Errorf("dev PKI: name %q given twice", n)
		}
		seen[n] = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dev PKI: %w", err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("dev PKI: CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "vem development CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(devValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	if caTmpl.SerialNumber, err = serial(); err != nil {
		return fmt.Errorf("dev PKI: %w", err)
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("dev PKI: CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return fmt.Errorf("dev PKI: CA certificate: %w", err)
	}
	if err := writePEM(filepath.Join(dir, "ca.pem"), "CERTIFICATE", caDER, 0o644); err != nil {
		return fmt.Errorf("dev PKI: %w", err)
	}
	for _, n := range vsmNames {
		if err := issue(dir, n, KindVSM, ca, caKey); err != nil {
			return fmt.Errorf("dev PKI: %w", err)
		}
	}
	for _, n := range hostNames {
		if err := issue(dir, n, KindVEM, ca, caKey); err != nil {
			return fmt.Errorf("dev PKI: %w", err)
		}
	}
	return nil
}

// issue writes dir/NAME.pem and dir/NAME-key.pem: a certificate of kind
// for name, signed by ca.
func issue(dir, name string, kind Kind, ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("%s key: %w", name, err)
	}
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if kind == KindVSM {
		usage = append(usage, x509.ExtKeyUsageServerAuth)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name, OrganizationalUnit: []string{string(kind)}},
		DNSNames:    []string{name},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(devValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: usage,
	}
	if tmpl.SerialNumber, err = serial(); err != nil {
		return err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("%s certificate: %w", name, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("%s key: %w", name, err)
	}
	if err := writePEM(filepath.Join(dir, name+"-key.pem"), "PRIVATE KEY", keyDER, 0o600); err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, name+".pem"), "CERTIFICATE", der, 0o644)
}

// serial is a random 128-bit certificate serial number.
func serial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return n, nil
}

// writePEM creates path (never replacing a file) holding one PEM block.
func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists: a development PKI is never written over one", path)
		}
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: typ, Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
