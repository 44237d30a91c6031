package api

import (
	"fmt"
	"net/http"
	"slices"
)

func (s *Server) vteps(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	v, err := s.backend.VTEPs(r.Context())
	if err != nil {
		return nil, fmt.Errorf("list VTEPs: %w", err)
	}
	// Copy before filling in: the backend may have handed out its own.
	v.Remote = slices.Clone(nonNil(v.Remote))
	for i := range v.Remote {
		v.Remote[i].BridgeDomains = nonNil(v.Remote[i].BridgeDomains)
	}
	return v, nil
}

func (s *Server) bridgeDomains(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	bds, err := s.backend.BridgeDomains(r.Context())
	if err != nil {
		return nil, fmt.Errorf("list bridge domains: %w", err)
	}
	bds = slices.Clone(nonNil(bds))
	for i := range bds {
		bds[i].VTEPs = nonNil(bds[i].VTEPs)
		bds[i].Ports = nonNil(bds[i].Ports)
	}
	return bds, nil
}
