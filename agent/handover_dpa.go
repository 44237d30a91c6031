package agent

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// dpaHandoverTimeout bounds telling the VSM of a handover: it is one
// message on an open session.
const dpaHandoverTimeout = 2 * time.Second

// quiesceDPA tells the VSM the VEM is attached to that this agent hands
// over to its successor (not that it is lost): the VSM keeps the module,
// shown upgrading, until the successor attaches with the same identity.
// A VEM attached to no VSM has nobody to tell.
func (a *Agent) quiesceDPA() {
	if a.vsm == nil || a.vsm.dpa == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), dpaHandoverTimeout)
	defer cancel()
	vsm, err := a.vsm.dpa.HandOver(ctx)
	if err != nil {
		a.log.Warn("the VSM was not told of the handover; it sees the module absent until the successor attaches", zap.Error(err))
		return
	}
	if vsm != "" {
		a.log.Info("VSM told of the handover", zap.String("vsm", vsm))
	}
}
