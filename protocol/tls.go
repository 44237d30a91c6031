package protocol

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLSFiles names the PEM files of one side's credentials, as the agent's
// and the VSM's files write them (tls: {ca, cert, key}).
type TLSFiles struct {
	// CA is the certificate authority every peer's certificate must chain to.
	CA string `yaml:"ca" json:"ca"`
	// Cert is this side's certificate, Key its private key.
	Cert string `yaml:"cert" json:"cert"`
	Key  string `yaml:"key" json:"key"`
}

// loadedTLS is what TLSFiles hold, loaded.
type loadedTLS struct {
	pool *x509.CertPool
	cert tls.Certificate
	self Identity
}

// load reads the files and checks that the certificate is of kind self.
func (f TLSFiles) load(self Kind) (*loadedTLS, error) {
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("CA %s holds no PEM certificate", f.CA)
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("load certificate %s and key %s: %w", f.Cert, f.Key, err)
	}
	id, err := identityOf(cert.Leaf)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", f.Cert, err)
	}
	if id.Kind != self {
		return nil, fmt.Errorf("certificate %s: %w: it makes %s a %s, this side is a %s", f.Cert, ErrIdentity, id.Name, id.Kind, self)
	}
	return &loadedTLS{pool: pool, cert: cert, self: id}, nil
}

// ServerTLS is the configuration of a VSM's listener: its certificate
// (which must be a VSM's) and mutual TLS that accepts only clients whose
// certificate chains to the CA and is of one of the peer kinds (KindVEM
// for VEM sessions).
func ServerTLS(f TLSFiles, peers ...Kind) (*tls.Config, error) {
	c, err := f.load(KindVSM)
	if err != nil {
		return nil, fmt.Errorf("server TLS: %w", err)
	}
	if len(peers) == 0 {
		peers = []Kind{KindVEM}
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{c.cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    c.pool,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := peerIdentity(cs, peers...)
			return err
		},
	}, nil
}

// ClientTLS is the configuration a VEM (self KindVEM) dials its VSMs
// with: its own certificate, and a server certificate that must chain to
// the CA and be of kind peer. VSMs are dialled by address and recognised
// by the name their certificate carries, so the host name is not checked
// against the address; the identity is (see VSMSession.Peer).
func ClientTLS(f TLSFiles, self, peer Kind) (*tls.Config, error) {
	c, err := f.load(self)
	if err != nil {
		return nil, fmt.Errorf("client TLS: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{c.cert},
		// The chain is verified in VerifyConnection, without the host name.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if err := verifyChain(cs, c.pool); err != nil {
				return err
			}
			_, err := peerIdentity(cs, peer)
			return err
		},
	}, nil
}

// verifyChain verifies the server's certificate chain against roots for
// server authentication, as crypto/tls would without the host name.
func verifyChain(cs tls.ConnectionState, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("%w: no server certificate", ErrIdentity)
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("%w: server certificate: %w", ErrIdentity, err)
	}
	return nil
}
