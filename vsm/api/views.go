package api

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/store"
)

func (s *Server) segments(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	snap := s.store.Snapshot()
	return SegmentsResponse{Generation: snap.Generation, Segments: nonNil(snap.Network.Segments)}, nil
}

func (s *Server) segment(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	snap := s.store.Snapshot()
	seg, ok := snap.Network.Segment(r.PathValue("name"))
	if !ok {
		return nil, fmt.Errorf("%w: no segment %s", store.ErrNotFound, r.PathValue("name"))
	}
	return SegmentResponse{Generation: snap.Generation, Segment: *seg}, nil
}

func (s *Server) profiles(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	snap := s.store.Snapshot()
	return ProfilesResponse{Generation: snap.Generation, Profiles: nonNil(snap.Network.Profiles)}, nil
}

func (s *Server) profile(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	snap := s.store.Snapshot()
	pr, ok := snap.Network.Profile(r.PathValue("name"))
	if !ok {
		return nil, fmt.Errorf("%w: no profile %s", store.ErrNotFound, r.PathValue("name"))
	}
	return ProfileResponse{Generation: snap.Generation, Profile: *pr}, nil
}

// portStatuses lists the pre-created ports by ID, each with its binding,
// then the ports bound without an ID by module and vEth.
func portStatuses(snap *store.Snapshot) []PortStatus {
	byID := map[string]*store.Binding{}
	out := []PortStatus{}
	var adHoc []PortStatus
	for i, b := range snap.Bindings {
		if b.ID != "" {
			byID[b.ID] = &snap.Bindings[i]
			continue
		}
		adHoc = append(adHoc, PortStatus{MAC: b.MAC, Segment: b.Segment, Profile: b.Profile, IPs: b.IPs, Binding: &snap.Bindings[i]})
	}
	for _, p := range snap.Network.Ports {
		out = append(out, PortStatus{ID: p.ID, MAC: p.MAC, Segment: p.Segment, Profile: p.Profile, IPs: p.IPs, Binding: byID[p.ID]})
	}
	return append(out, adHoc...)
}

func (s *Server) ports(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	snap := s.store.Snapshot()
	return PortsResponse{Generation: snap.Generation, Ports: portStatuses(&snap)}, nil
}

func (s *Server) port(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	snap := s.store.Snapshot()
	id := strings.ToLower(r.PathValue("name"))
	for _, p := range portStatuses(&snap) {
		if p.ID == id {
			return PortResponse{Generation: snap.Generation, Port: p}, nil
		}
	}
	return nil, fmt.Errorf("%w: no port %s", store.ErrNotFound, id)
}

func (s *Server) bindings(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	snap := s.store.Snapshot()
	return BindingsResponse{Generation: snap.Generation, Bindings: nonNil(snap.Bindings)}, nil
}

func portProfileStatuses(snap *store.Snapshot) []PortProfileStatus {
	uses := map[string]int{}
	for _, b := range snap.Bindings {
		uses[b.PortProfile]++
	}
	out := []PortProfileStatus{}
	for _, pp := range snap.PortProfiles {
		out = append(out, PortProfileStatus{PortProfile: pp, Ports: uses[pp.Name]})
	}
	return out
}

func (s *Server) portProfiles(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	snap := s.store.Snapshot()
	return PortProfilesResponse{Generation: snap.Generation, PortProfiles: portProfileStatuses(&snap)}, nil
}

func (s *Server) portProfile(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	snap := s.store.Snapshot()
	for _, pp := range portProfileStatuses(&snap) {
		if pp.Name == r.PathValue("name") {
			return PortProfileResponse{Generation: snap.Generation, PortProfile: pp}, nil
		}
	}
	return nil, fmt.Errorf("%w: no port profile %s", store.ErrNotFound, r.PathValue("name"))
}

func (s *Server) bridgeDomains(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	snap := s.store.Snapshot()
	out := []BridgeDomain{}
	for _, seg := range snap.Network.Segments {
		if seg.Type != spec.SegmentVXLAN {
			continue
		}
		bd := BridgeDomain{VNI: seg.VNI, Segment: seg.Name, MTU: seg.MTU, StaticVTEPs: nonNil(seg.VTEPs), Modules: []int{}}
		for _, b := range snap.Bindings {
			if b.Segment == seg.Name && !slices.Contains(bd.Modules, b.Module) {
				bd.Modules = append(bd.Modules, b.Module)
			}
		}
		out = append(out, bd)
	}
	slices.SortFunc(out, func(a, b BridgeDomain) int { return a.VNI - b.VNI })
	return BridgeDomainsResponse{Generation: snap.Generation, BridgeDomains: out}, nil
}

func (s *Server) changes(r *http.Request) (any, error) {
	q, err := query(r, "since")
	if err != nil {
		return nil, err
	}
	since, err := strconv.ParseUint(q["since"], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: since %q: want a generation (0 and up)", errInvalid, q["since"])
	}
	gen := s.store.Generation()
	cs, err := s.store.Changes(since)
	if err != nil {
		if since > gen {
			return nil, fmt.Errorf("%w: %w", errInvalid, err)
		}
		return nil, err
	}
	return ChangesResponse{Generation: max(gen, lastGen(cs)), Changes: nonNil(cs)}, nil
}

func lastGen(cs []store.Change) uint64 {
	if len(cs) == 0 {
		return 0
	}
	return cs[len(cs)-1].Generation
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
