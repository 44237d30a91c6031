package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/internal/strict"
	"github.com/vem-switch/vem/vsm/netdef"
	"github.com/vem-switch/vem/vsm/store"
)

func (s *Server) routes() {
	get := http.MethodGet
	s.mux.Handle("/v1/status", s.handle(methods{get: s.status}))
	s.mux.Handle("/v1/network", s.handle(methods{get: s.network}))
	s.mux.Handle("/v1/apply", s.handle(methods{http.MethodPost: s.apply}))
	s.mux.Handle("/v1/sync", s.handle(methods{http.MethodPut: s.sync}))
	s.mux.Handle("/v1/segments", s.handle(methods{get: s.segments, http.MethodPost: s.putSegment(true)}))
	s.mux.Handle("/v1/segments/{name}", s.handle(methods{get: s.segment, http.MethodPut: s.putSegment(false), http.MethodDelete: s.delete(store.KindSegment)}))
	s.mux.Handle("/v1/profiles", s.handle(methods{get: s.profiles, http.MethodPost: s.putProfile(true)}))
	s.mux.Handle("/v1/profiles/{name}", s.handle(methods{get: s.profile, http.MethodPut: s.putProfile(false), http.MethodDelete: s.delete(store.KindProfile)}))
	s.mux.Handle("/v1/ports", s.handle(methods{get: s.ports, http.MethodPost: s.putPort(true)}))
	s.mux.Handle("/v1/ports/{name}", s.handle(methods{get: s.port, http.MethodPut: s.putPort(false), http.MethodDelete: s.delete(store.KindPort)}))
	s.mux.Handle("/v1/bindings", s.handle(methods{get: s.bindings}))
	readOnly := methods{get: s.portProfiles}
	one := methods{get: s.portProfile}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		readOnly[m], one[m] = s.readOnly, s.readOnly
	}
	s.mux.Handle("/v1/port-profiles", s.handle(readOnly))
	s.mux.Handle("/v1/port-profiles/{name}", s.handle(one))
	s.mux.Handle("/v1/bridge-domains", s.handle(methods{get: s.bridgeDomains}))
	s.mux.Handle("/v1/changes", s.handle(methods{get: s.changes}))
	s.mux.Handle("/v1/modules", s.handle(methods{get: s.modules}))
	s.mux.Handle("/v1/system/redundancy", s.handle(methods{get: s.redundancy}))
	s.mux.Handle("/v1/system/switchover", s.handle(methods{http.MethodPost: s.switchover}))
	s.mux.Handle("/v1/system/redundancy/role", s.handle(methods{http.MethodPut: s.setRole}))
	s.mux.Handle("/", s.handle(nil))
}

func (s *Server) status(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	return Status{Generation: s.store.Generation(), Name: s.info.Name, Domain: s.info.Domain, Role: s.info.Role,
		Module: s.info.Module, Schema: store.SchemaVersion}, nil
}

func (s *Server) network(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	snap := s.store.Snapshot()
	return NetworkResponse{Generation: snap.Generation, Network: snap.Network}, nil
}

// apply answers POST /v1/apply: a network definition merged into the
// VSM's.
func (s *Server) apply(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	n, lines, err := parseNetwork(r)
	if err != nil {
		return nil, err
	}
	res, err := s.store.Apply(*n)
	return res, place(err, lines)
}

// sync answers PUT /v1/sync: a network definition that becomes the
// VSM's whole one.
func (s *Server) sync(r *http.Request) (any, error) {
	q, err := query(r, "dryRun")
	if err != nil {
		return nil, err
	}
	var opts store.SyncOptions
	if v, ok := q["dryRun"]; ok {
		if opts.DryRun, err = strconv.ParseBool(v); err != nil {
			return nil, fmt.Errorf("%w: dryRun %q is not true or false", errInvalid, v)
		}
	}
	n, lines, err := parseNetwork(r)
	if err != nil {
		return nil, err
	}
	res, err := s.store.Sync(*n, opts)
	return res, place(err, lines)
}

// parseNetwork decodes a network definition body in the format its
// Content-Type names.
func parseNetwork(r *http.Request) (*netdef.Network, netdef.Lines, error) {
	f, err := netdef.FormatOf(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, nil, &Error{Status: http.StatusUnsupportedMediaType, Message: err.Error()}
	}
	data, err := readBody(r)
	if err != nil {
		return nil, nil, err
	}
	n, lines, err := netdef.Parse(data, f)
	if err != nil {
		var ve *spec.ValidationError
		if errors.As(err, &ve) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%w: %w", errInvalid, err)
	}
	return n, lines, nil
}

// place puts the problems of a validation or conflict error on the lines
// of the request's fields.
func place(err error, lines netdef.Lines) error {
	if ps := problemsOf(err); ps != nil {
		netdef.PlaceProblems(&spec.ValidationError{Problems: ps}, lines)
	}
	return err
}

func problemsOf(err error) []spec.Problem {
	var ve *spec.ValidationError
	var ce *store.ConflictError
	switch {
	case errors.As(err, &ve):
		return ve.Problems
	case errors.As(err, &ce):
		return ce.Problems
	}
	return nil
}

// decodeObject decodes a single object's JSON body strictly.
func decodeObject(r *http.Request, v any) (netdef.Lines, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	if f, err := netdef.FormatOf(r.Header.Get("Content-Type")); err != nil || (f != netdef.JSON && r.Header.Get("Content-Type") != "") {
		return nil, &Error{Status: http.StatusUnsupportedMediaType, Message: "a single object is application/json"}
	}
	data, err := readBody(r)
	if err != nil {
		return nil, err
	}
	lines, err := strict.JSON(data, v, strict.Options{})
	if err != nil {
		var ve *spec.ValidationError
		if errors.As(err, &ve) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", errInvalid, err)
	}
	return lines, nil
}

// nameFromPath reconciles the name in a PUT's path with the body's: the
// body may leave it out, not contradict it.
func nameFromPath(name *string, r *http.Request, field string) error {
	if r.Method != http.MethodPut {
		return nil
	}
	path := r.PathValue("name")
	switch *name {
	case "":
		*name = path
	case path:
	default:
		return &spec.ValidationError{Problems: []spec.Problem{{Field: field, Msg: fmt.Sprintf("%q is not %q, the name in the path", *name, path)}}}
	}
	return nil
}

// single moves the problems of a one-object network definition onto the
// object's own fields ("segments[0].vlan" is "vlan" of the body), and
// onto their lines.
func single(err error, prefix string, lines netdef.Lines) error {
	ps := problemsOf(err)
	for i := range ps {
		f := ps[i].Field
		switch {
		case strings.HasPrefix(f, prefix+"."):
			ps[i].Field = strings.TrimPrefix(f, prefix+".")
		case f == prefix || !strings.ContainsAny(f, ".["):
			ps[i].Field = ""
		}
	}
	return place(err, lines)
}

func (s *Server) putSegment(create bool) endpoint {
	return func(r *http.Request) (any, error) {
		var seg spec.Segment
		lines, err := decodeObject(r, &seg)
		if err != nil {
			return nil, err
		}
		if err := nameFromPath(&seg.Name, r, "name"); err != nil {
			return nil, place(err, lines)
		}
		n := netdef.Network{Segments: []spec.Segment{seg}}
		return s.put(n, create, "segments[0]", lines)
	}
}

func (s *Server) putProfile(create bool) endpoint {
	return func(r *http.Request) (any, error) {
		var pr spec.Profile
		lines, err := decodeObject(r, &pr)
		if err != nil {
			return nil, err
		}
		if err := nameFromPath(&pr.Name, r, "name"); err != nil {
			return nil, place(err, lines)
		}
		n := netdef.Network{Profiles: []spec.Profile{pr}}
		return s.put(n, create, "profiles[0]", lines)
	}
}

func (s *Server) putPort(create bool) endpoint {
	return func(r *http.Request) (any, error) {
		var p netdef.Port
		lines, err := decodeObject(r, &p)
		if err != nil {
			return nil, err
		}
		if r.Method == http.MethodPut && strings.EqualFold(p.ID, r.PathValue("name")) {
			p.ID = r.PathValue("name") // the case is normalised anyway
		}
		if err := nameFromPath(&p.ID, r, "id"); err != nil {
			return nil, place(err, lines)
		}
		n := netdef.Network{Ports: []netdef.Port{p}}
		return s.put(n, create, "ports[0]", lines)
	}
}

func (s *Server) put(n netdef.Network, create bool, prefix string, lines netdef.Lines) (any, error) {
	var res store.Result
	var err error
	if create {
		res, err = s.store.Create(n)
	} else {
		res, err = s.store.Apply(n)
	}
	return res, single(err, prefix, lines)
}

func (s *Server) delete(kind store.Kind) endpoint {
	return func(r *http.Request) (any, error) {
		if _, err := query(r); err != nil {
			return nil, err
		}
		name := r.PathValue("name")
		if kind == store.KindPort {
			name = strings.ToLower(name)
		}
		res, err := s.store.Delete(kind, name)
		return res, single(err, "", nil)
	}
}

func (s *Server) readOnly(r *http.Request) (any, error) {
	name := r.PathValue("name")
	if name == "" {
		name = netdef.DynamicPrefix + "<N>"
	}
	return nil, fmt.Errorf("%w: %s", store.ErrReadOnly, store.DynamicReadOnly(name))
}
