package api

import (
	"fmt"
	"net/http"
	"slices"
)

func (s *Server) portChannels(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	pcs, err := s.backend.PortChannels(r.Context())
	if err != nil {
		return nil, fmt.Errorf("list port-channels: %w", err)
	}
	// Copy before filling in: the backend may have handed out its own.
	pcs = slices.Clone(nonNil(pcs))
	for i := range pcs {
		pcs[i].Members = nonNil(pcs[i].Members)
	}
	return pcs, nil
}

func (s *Server) lacpNeighbors(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	ns, err := s.backend.LACPNeighbors(r.Context())
	if err != nil {
		return nil, fmt.Errorf("list LACP neighbors: %w", err)
	}
	return nonNil(ns), nil
}

func (s *Server) lacpCounters(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	cs, err := s.backend.LACPCounters(r.Context())
	if err != nil {
		return nil, fmt.Errorf("LACP counters: %w", err)
	}
	return nonNil(cs), nil
}
