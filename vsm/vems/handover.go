package vems

import "time"

// HandoverGrace is how long a VEM whose agent announced a handover to its
// successor is shown upgrading rather than absent while no session of it
// is attached: an in-service upgrade's successor attaches within seconds.
const HandoverGrace = 60 * time.Second

// handingOver records that host's agent is being handed over.
func (m *Manager) handingOver(host string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.upgrading == nil {
		m.upgrading = map[string]time.Time{}
	}
	m.upgrading[host] = m.clock.Now().Add(HandoverGrace)
}

// handedOver ends host's handover: a session of it attached.
func (m *Manager) handedOver(host string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.upgrading, host)
}

// isUpgrading reports whether host is within a handover's grace.
func (m *Manager) isUpgrading(host string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	until, ok := m.upgrading[host]
	if ok && !m.clock.Now().Before(until) {
		delete(m.upgrading, host)
		return false
	}
	return ok
}
