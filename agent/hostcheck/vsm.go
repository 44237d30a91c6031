package hostcheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"time"

	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
)

// ExpiryWarning is how close to its end a certificate is warned about.
const ExpiryWarning = 30 * 24 * time.Hour

// certFix says how to replace the host's credentials.
const certFix = "issue this host a certificate from the VSMs' CA (a development PKI: vsm certs init --dir DIR --vsm … --host HOST), " +
	"name it in vsm.tls and restart the agent"

// vsm checks, for an agent in VSM mode, the host's certificate and that
// every VSM answers over mutual TLS. One VSM of a pair unreachable is a
// warning; none is a failure.
func (h Host) vsm(ctx context.Context, sw *spec.Switch, path string) []Result {
	if sw == nil {
		return nil
	}
	if sw.VSM == nil {
		return []Result{skip("vsm", "standalone: %s has no vsm: section", path)}
	}
	files := protocol.TLSFiles{CA: sw.VSM.TLS.CA, Cert: sw.VSM.TLS.Cert, Key: sw.VSM.TLS.Key}
	cert, conf := h.certificate(files)
	out := []Result{cert}
	var reached int
	var dialled []Result
	for _, addr := range sw.VSM.Addresses {
		item := "vsm " + addr
		if conf == nil {
			dialled = append(dialled, skip(item, "not dialled: no usable certificate"))
			continue
		}
		r := h.reachVSM(ctx, item, addr, conf)
		if r.Status == OK || (r.Status == Warn && r.Fix == certFixVSM) {
			reached++
		}
		dialled = append(dialled, r)
	}
	if reached > 0 {
		// The pair's other member being down is degraded, not fatal.
		for i := range dialled {
			if dialled[i].Status == Fail && dialled[i].Fix == reachFix {
				dialled[i].Status = Warn
			}
		}
	}
	return append(out, dialled...)
}

// parseCerts returns the certificates of a PEM file.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}

// certificate checks the host's certificate: readable, in its validity
// period by Host.Now, chaining to the CA, matching its key and a VEM's.
// It returns the TLS configuration to dial with, nil when there is none.
func (h Host) certificate(f protocol.TLSFiles) (Result, *tls.Config) {
	const item = "vsm-cert"
	caPEM, err := h.ReadFile(f.CA)
	if err != nil {
		return bad(item, Fail, "name the VSMs' CA in vsm.tls.ca", "CA: %v", err), nil
	}
	cas, err := parseCerts(caPEM)
	if err != nil {
		return bad(item, Fail, "name the VSMs' CA in vsm.tls.ca", "CA %s: %v", f.CA, err), nil
	}
	certPEM, err := h.ReadFile(f.Cert)
	if err != nil {
		return bad(item, Fail, certFix, "certificate: %v", err), nil
	}
	certs, err := parseCerts(certPEM)
	if err != nil {
		return bad(item, Fail, certFix, "certificate %s: %v", f.Cert, err), nil
	}
	leaf, now := certs[0], h.Now()
	name := leaf.Subject.CommonName
	switch {
	case now.After(leaf.NotAfter):
		return bad(item, Fail, certFix, "certificate %s (%s) expired on %s", f.Cert, name, leaf.NotAfter.UTC().Format(time.DateOnly)), nil
	case now.Before(leaf.NotBefore):
		return bad(item, Fail, certFix+" (or set the host's clock)", "certificate %s (%s) is not valid before %s",
			f.Cert, name, leaf.NotBefore.UTC().Format(time.RFC3339)), nil
	}
	roots := x509.NewCertPool()
	for _, c := range cas {
		roots.AddCert(c)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return bad(item, Fail, certFix, "certificate %s (%s) does not chain to the CA %s: %v", f.Cert, name, f.CA, err), nil
	}
	conf, err := protocol.ClientTLS(f, protocol.KindVEM, protocol.KindVSM)
	if err != nil {
		return bad(item, Fail, certFix, "%v", err), nil
	}
	left := leaf.NotAfter.Sub(now)
	if left < ExpiryWarning {
		return bad(item, Warn, certFix, "certificate %s (%s) expires in %d days, on %s", f.Cert, name,
			int(left.Hours()/24), leaf.NotAfter.UTC().Format(time.DateOnly)), conf
	}
	return ok(item, "certificate %s (%s) valid until %s, chains to %s", f.Cert, name,
		leaf.NotAfter.UTC().Format(time.DateOnly), f.CA), conf
}

// Fixes that vsm recognises in its items.
const (
	reachFix   = "start the VSM there, or open the path to it (routes, firewall: TCP to its listen address); check vsm.addresses"
	trustFix   = "the VSM's certificate must be a VSM's from the CA in vsm.tls.ca (vsm certs init makes both)"
	certFixVSM = "renew the VSM's certificate before it expires"
)

// reachVSM dials one VSM and completes mutual TLS with it: the VSM's
// certificate verified against the CA, this host's accepted by the VSM
// (a gRPC server speaks first once it has accepted the client).
func (h Host) reachVSM(ctx context.Context, item, addr string, conf *tls.Config) Result {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	raw, err := h.Dial(ctx, "tcp", addr)
	if err != nil {
		return bad(item, Fail, reachFix, "not reachable: %v", err)
	}
	defer raw.Close()
	c := tls.Client(raw, conf.Clone())
	if err := c.HandshakeContext(ctx); err != nil {
		return bad(item, Fail, trustFix, "TLS with the VSM failed: %v", err)
	}
	deadline, _ := ctx.Deadline()
	c.SetReadDeadline(deadline)
	var b [1]byte
	if _, err := c.Read(b[:]); err != nil {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return bad(item, Fail, certFix, "the VSM refused this host's certificate: %v", err)
		}
	}
	peer := c.ConnectionState().PeerCertificates[0]
	if left := peer.NotAfter.Sub(h.Now()); left < ExpiryWarning {
		return bad(item, Warn, certFixVSM, "VSM %s answers; its certificate expires in %d days", peer.Subject.CommonName, int(left.Hours()/24))
	}
	return ok(item, "VSM %s answers over mutual TLS", peer.Subject.CommonName)
}
