package api

import (
	"fmt"
	"net/http"
	"slices"

	"go.uber.org/zap"
)

func (s *Server) status(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	st, err := s.backend.Status(r.Context())
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	return st, nil
}

func (s *Server) ports(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	ps, err := s.backend.Ports(r.Context())
	if err != nil {
		return nil, fmt.Errorf("list ports: %w", err)
	}
	return nonNil(ps), nil
}

func (s *Server) macTable(r *http.Request) (any, error) {
	q, err := query(r, "segment")
	if err != nil {
		return nil, err
	}
	es, err := s.backend.MACTable(r.Context(), q["segment"])
	if err != nil {
		return nil, fmt.Errorf("MAC table: %w", err)
	}
	return nonNil(es), nil
}

func (s *Server) dpa(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	d, err := s.backend.DPA(r.Context())
	if err != nil {
		return nil, fmt.Errorf("DPA status: %w", err)
	}
	if d.VSMs == nil {
		d.VSMs = []DPAVSM{}
	}
	return d, nil
}

func (s *Server) segments(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	ss, err := s.backend.Segments(r.Context())
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	// Copy before filling in: the backend may have handed out its own.
	ss = slices.Clone(nonNil(ss))
	for i := range ss {
		ss[i].Ports = nonNil(ss[i].Ports)
	}
	return ss, nil
}

func (s *Server) counters(r *http.Request) (any, error) {
	q, err := query(r, "port")
	if err != nil {
		return nil, err
	}
	cs, err := s.backend.Counters(r.Context(), q["port"])
	if err != nil {
		return nil, fmt.Errorf("counters of %s: %w", portOrAll(q["port"]), err)
	}
	cs = slices.Clone(nonNil(cs))
	for i := range cs {
		if cs[i].Drops == nil {
			cs[i].Drops = map[string]uint64{}
		}
	}
	return cs, nil
}

func (s *Server) attach(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	var req AttachRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if err := s.attachPort(r.Context(), req); err != nil {
		return nil, fmt.Errorf("attach %s: %w", req.Interface, err)
	}
	fields := []zap.Field{
		zap.String(logInterface, req.Interface), zap.String(logMAC, req.MAC),
		zap.String(logSegment, req.Segment), zap.String(logProfile, req.Profile), zap.Strings(logIPs, req.IPs),
	}
	if req.Incoming {
		fields = append(fields, zap.Bool("incoming", true))
	}
	s.log.Info("port attached", append(fields, peerFields(r.Context())...)...)
	return nil, nil
}

func (s *Server) detach(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	iface := r.PathValue("interface")
	if err := s.backend.Detach(r.Context(), iface); err != nil {
		return nil, fmt.Errorf("detach %s: %w", iface, err)
	}
	s.log.Info("port detached", append([]zap.Field{zap.String(logInterface, iface)}, peerFields(r.Context())...)...)
	return nil, nil
}

// nonNil makes an empty list encode as [] rather than null, which
// scripts iterating over the result would trip on.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func portOrAll(port string) string {
	if port == "" {
		return "all ports"
	}
	return "port " + port
}
