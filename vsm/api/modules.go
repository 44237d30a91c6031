package api

import (
	"net/http"
	"time"

	"github.com/vem-switch/vem/vsm/config"
	"github.com/vem-switch/vem/vsm/ha"
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
// "absent" (its session is gone: it forwards headless or is down) or
// "upgrading" (its agent hands over to a new version: absent if no
// successor attaches within a minute). Ports counts the ports bound on
// it; VSM names the supervisor it is attached to (this one while ok).
type Module struct {
	Module int    `json:"module"`
	Host   string `json:"host"`
	Status string `json:"status"`
	Ports  int    `json:"ports"`
	VSM    string `json:"vsm"`
	Type   string `json:"type"`
	Model  string `json:"model"`
	// This marks the supervisor answering.
	This bool `json:"this,omitempty"`
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

// Statuses of the VSMs of a pair in show module, as the guide prints
// them; a peer not heard is absent.
const (
	StatusHAStandby    = "ha-standby"
	StatusStandby      = "standby"
	StatusInitializing = "initializing"
	StatusAbsent       = "absent"
)

// vsmStatus is how show module words a VSM's redundancy state.
func vsmStatus(state, internal string) string {
	switch {
	case state == string(ha.Active):
		return StatusVSM
	case state == string(ha.Standby) && internal == ha.InternalHAStandby:
		return StatusHAStandby
	case state == string(ha.Standby):
		return StatusStandby
	case state == string(ha.Initializing):
		return StatusInitializing
	}
	return StatusAbsent
}

// supervisors are the rows of this VSM and, in a pair, of its peer
// (modules 1 and 2), in module order.
func (s *Server) supervisors(st ha.Status) []Module {
	self := Module{Module: s.info.Module, Host: s.info.Name, Status: vsmStatus(string(st.State), st.InternalState),
		VSM: s.info.Name, Type: TypeVSM, Model: ModelVSM, This: true}
	if !config.Role(s.info.Role).Paired() {
		return []Module{self}
	}
	peer := Module{Module: 3 - s.info.Module, Host: st.Peer.Name, Status: vsmStatus(st.Peer.State, st.Peer.InternalState),
		VSM: st.Peer.Name, Type: TypeVSM, Model: ModelVSM}
	if peer.Module < self.Module {
		return []Module{peer, self}
	}
	return []Module{self, peer}
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
	out := []Module{{Module: s.info.Module, Host: s.info.Name, Status: StatusVSM, VSM: s.info.Name, Type: TypeVSM, Model: ModelVSM, This: true}}
	if s.info.Redundancy != nil {
		out = s.supervisors(s.info.Redundancy())
	}
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
