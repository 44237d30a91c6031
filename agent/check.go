package agent

import (
	"github.com/vem-switch/vem/spec"
)

// CheckResult is what a check of a configuration file found.
type CheckResult struct {
	// Absent are the vEths whose interface does not exist yet: not an
	// error (their VM has not started), they wait.
	Absent []string
}

// Check validates a configuration file as the agent would apply it on
// this host, with the datapath's limits, interface kinds and the
// underlay, writing nothing.
func Check(path string) (CheckResult, error) {
	cfg, err := LoadFile(path)
	if err != nil {
		return CheckResult{}, err
	}
	return checkSwitch(cfg, netlinkLinks{})
}

func checkSwitch(cfg *spec.Switch, links Links) (CheckResult, error) {
	lim, err := datapathLimits()
	if err != nil {
		return CheckResult{}, err
	}
	e := NewEngine(EngineOptions{Links: links, Limits: lim,
		Identity: &identity{Keys: map[string]uint16{}, Ports: map[string]uint16{}}})
	e.readInterfaces()
	pr, err := e.prepare(Desired{Switch: cfg})
	if err != nil {
		return CheckResult{}, err
	}
	p, err := buildPlan(cfg, pr.attached, pr.ids, links, newSlots(), nil)
	if err != nil {
		return CheckResult{}, err
	}
	var res CheckResult
	for _, pi := range p.absent {
		res.Absent = append(res.Absent, pi.Iface)
	}
	return res, nil
}
