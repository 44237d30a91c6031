package api

import (
	"net/http"
	"time"
)

// Module types and model, as show module prints them.
const (
	TypeVSM   = "Virtual Supervisor Module"
	TypeVEM   = "Virtual Ethernet Module"
	ModelVSM  = "vem-vsm"
	ModelVEM  = "vem-agent"
	StatusVSM = "active"
)

// Module is one row of show module (GET /v1/modules): the VSM itself
// (module 1, or 2 for a secondary) and every VEM (3 and up). Status is
// "active" for the VSM, and for a VEM "ok" (attached, heartbeating) or
// "absent" (its session is gone: it forwards headless or is down). Ports
// counts the ports bound on it; VSM names the supervisor it is attached
// to (this one while ok).
type Module struct {
	Module int    `json:"module"`
	Host   string `json:"host"`
	Status string `json:"status"`
	Ports  int    `json:"ports"`
	VSM    string `json:"vsm"`
	Type   string `json:"type"`
	Model  string `json:"model"`
	// VTEP is the VEM's, as its last Hello announced it.
	VTEP string `json:"vtep,omitempty"`
	// Since is when the VEM attached.
	Since *time.Time `json:"since,omitempty"`
	// Generation is the last configuration the VEM acknowledged;
	// SentGeneration the last sent to it.
	Generation     uint64 `json:"generation,omitempty"`
	SentGeneration uint64 `json:"sentGeneration,omitempty"`
	// Nack is why the VEM refused the configuration of NackGeneration,
	// the last sent to it.
	Nack           string `json:"nack,omitempty"`
	NackGeneration uint64 `json:"nackGeneration,omitempty"`
}

// ModulesResponse is the answer of GET /v1/modules.
type ModulesResponse struct {
	Generation uint64   `json:"generation"`
	Modules    []Module `json:"modules"`
}

// modules answers GET /v1/modules: this VSM, then the VEMs Info.Modules
// lists, each with the number of ports bound on it.
func (s *Server) modules(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	snap := s.store.Snapshot()
	ports := map[int]int{}
	for _, b := range snap.Bindings {
		ports[b.Module]++
	}
	out := []Module{{Module: s.info.Module, Host: s.info.Name, Status: StatusVSM, VSM: s.info.Name, Type: TypeVSM, Model: ModelVSM}}
	if s.info.Modules != nil {
		vems, err := s.info.Modules()
		if err != nil {
			return nil, err
		}
		for _, m := range vems {
			m.Ports = ports[m.Module]
			m.Type, m.Model = TypeVEM, ModelVEM
			out = append(out, m)
		}
	}
	return ModulesResponse{Generation: snap.Generation, Modules: out}, nil
}
