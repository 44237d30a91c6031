package vems

import (
	"slices"
	"time"
)

// Module statuses, as show module prints them.
const (
	// StatusOK is a VEM attached to this VSM, its session up.
	StatusOK = "ok"
	// StatusAbsent is a VEM the VSM has numbered whose session is gone
	// or that has detached.
	StatusAbsent = "absent"
	// StatusUpgrading is a VEM whose agent announced a handover to its
	// successor (an in-service upgrade) and whose successor has not
	// attached yet; absent once HandoverGrace has passed without it.
	StatusUpgrading = "upgrading"
)

// Module is one VEM as the VSM sees it.
type Module struct {
	Module int
	Host   string
	Status string
	// VTEP is the one the VEM last announced.
	VTEP string
	// Since is when it attached, zero unless ok.
	Since time.Time
	// SentGeneration is the generation of the last snapshot sent,
	// AckedGeneration the last the VEM acknowledged.
	SentGeneration, AckedGeneration uint64
	// Nack is why the VEM refused the last snapshot sent, at
	// NackGeneration; empty if it did not.
	Nack           string
	NackGeneration uint64
	// Connected: a session is open, attached or not (a VEM keeps one
	// with every VSM to hear its heartbeats).
	Connected bool
	// HeartbeatFailures counts heartbeats that could not be queued
	// because the VEM stopped reading.
	HeartbeatFailures uint64
}

// Modules lists every VEM the VSM has numbered, and the sessions not
// attached yet (module 0), sorted by module and host.
func (m *Manager) Modules() ([]Module, error) {
	recs, err := m.cfg.Store.ModuleRecords()
	if err != nil {
		return nil, err
	}
	byHost := map[string]*Module{}
	var out []*Module
	for _, r := range recs {
		mod := &Module{Module: r.Module, Host: r.Host, Status: StatusAbsent, VTEP: r.VTEP}
		byHost[r.Host] = mod
		out = append(out, mod)
	}
	for _, v := range m.all() {
		mod := byHost[v.host]
		if mod == nil {
			mod = &Module{Host: v.host, Status: StatusAbsent, VTEP: v.vtep}
			out = append(out, mod)
		}
		v.mu.Lock()
		st := v.status
		v.mu.Unlock()
		mod.Connected = true
		mod.HeartbeatFailures = st.hbFailures
		if st.attached {
			mod.Status, mod.Since, mod.VTEP = StatusOK, st.since, v.vtep
			mod.SentGeneration, mod.AckedGeneration = st.sentGen, st.ackedGen
			mod.Nack, mod.NackGeneration = st.nack, st.nackGen
		}
	}
	res := make([]Module, len(out))
	for i, p := range out {
		res[i] = *p
		if p.Status == StatusAbsent && m.isUpgrading(p.Host) {
			res[i].Status = StatusUpgrading
		}
	}
	slices.SortFunc(res, func(a, b Module) int {
		if a.Module != b.Module {
			return a.Module - b.Module
		}
		if a.Host < b.Host {
			return -1
		}
		if a.Host > b.Host {
			return 1
		}
		return 0
	})
	return res, nil
}
