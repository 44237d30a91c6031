package protocol

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
)

// Kind is what a certificate makes its holder: a VSM or a VEM. It is the
// certificate subject's organizational unit.
type Kind string

// Kinds of peer.
const (
	KindVSM Kind = "vsm"
	KindVEM Kind = "vem"
)

// Identity is who a verified certificate names: a VSM by its name, a VEM
// by its host name.
type Identity struct {
	Name string
	Kind Kind
}

// String formats the identity as "vem hv1".
func (id Identity) String() string { return string(id.Kind) + " " + id.Name }

// identityOf reads the identity a certificate of this package's PKI
// carries: the kind in the subject's only organizational unit, the name
// in its common name, which must also be a DNS name of the certificate.
func identityOf(cert *x509.Certificate) (Identity, error) {
	if len(cert.Subject.OrganizationalUnit) != 1 {
		return Identity{}, fmt.Errorf("%w: certificate %q names no kind (one organizational unit, vsm or vem)",
			ErrIdentity, cert.Subject.CommonName)
	}
	id := Identity{Name: cert.Subject.CommonName, Kind: Kind(cert.Subject.OrganizationalUnit[0])}
	if id.Kind != KindVSM && id.Kind != KindVEM {
		return Identity{}, fmt.Errorf("%w: certificate %q is of kind %q, not vsm or vem", ErrIdentity, id.Name, id.Kind)
	}
	if id.Name == "" || !slices.Contains(cert.DNSNames, id.Name) {
		return Identity{}, fmt.Errorf("%w: certificate %q does not carry its name as a DNS name", ErrIdentity, id.Name)
	}
	return id, nil
}

// peerIdentity is the identity of the peer of a completed handshake, which
// must be of one of the kinds.
func peerIdentity(cs tls.ConnectionState, kinds ...Kind) (Identity, error) {
	if len(cs.PeerCertificates) == 0 {
		return Identity{}, fmt.Errorf("%w: no peer certificate", ErrIdentity)
	}
	id, err := identityOf(cs.PeerCertificates[0])
	if err != nil {
		return Identity{}, err
	}
	if !slices.Contains(kinds, id.Kind) {
		return Identity{}, fmt.Errorf("%w: %s presented a %s certificate where a %v is expected", ErrIdentity, id.Name, id.Kind, kinds)
	}
	return id, nil
}
