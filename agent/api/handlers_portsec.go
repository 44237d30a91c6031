package api

import (
	"fmt"
	"net/http"
	"slices"
)

// portSecurity answers GET /v1/port-security, every vEth, and
// GET /v1/port-security/{port}, one.
func (s *Server) portSecurity(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	port := r.PathValue("port")
	ps, err := s.backend.PortSecurity(r.Context(), port)
	if err != nil {
		return nil, fmt.Errorf("port security of %s: %w", portOrAll(port), err)
	}
	// Copy before filling in: the backend may have handed out its own.
	ps = slices.Clone(nonNil(ps))
	for i := range ps {
		ps[i].Addresses = nonNil(ps[i].Addresses)
		ps[i].AllowedAddressPairs = nonNil(ps[i].AllowedAddressPairs)
		ps[i].AllowLinkLocal = nonNil(ps[i].AllowLinkLocal)
		if ps[i].Drops == nil {
			ps[i].Drops = map[string]uint64{}
		}
	}
	return ps, nil
}
