package dpa

import (
	"context"
	"fmt"

	"go.uber.org/zap"
)

// HandOver tells the VSM the VEM is attached to that the agent is being
// handed over to its successor on this host (an in-service upgrade), so
// that the VSM keeps the module, shown upgrading, until the successor
// attaches with the same identity. It reports the VSM told, "" when the
// VEM is attached to none (connecting or headless: nobody to tell). The
// DPA's Run is stopped after it; the successor starts from the
// checkpoint, connecting, its headless timer counting from its own start.
func (d *DPA) HandOver(ctx context.Context) (string, error) {
	d.mu.Lock()
	var s Session
	name := d.attachedName
	if d.state == StateAttached && d.target != nil {
		s = d.target.sess
	}
	d.mu.Unlock()
	if s == nil {
		return "", nil
	}
	if err := s.HandOver(ctx); err != nil {
		return name, fmt.Errorf("dpa: tell %s of the handover: %w", name, err)
	}
	d.log.Info("told the VSM of the handover to the successor", zap.String("vsm", name))
	return name, nil
}
