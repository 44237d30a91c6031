package protocol

import (
	"context"
	"fmt"
	"time"
)

// HandOver tells the VSM that this VEM's agent is being handed over to its
// successor on the same host (Detach with handover set): the VSM keeps the
// module and shows it upgrading until the successor attaches. It returns
// once the message has left, so the session can be closed right after.
func (v *VSMSession) HandOver(ctx context.Context) error {
	env := &Envelope{Body: &Envelope_Detach{Detach: &Detach{Reason: "agent handed over to its successor", Handover: true}}}
	if err := v.s.sendBulk(ctx, env); err != nil {
		return fmt.Errorf("hand over: %w", err)
	}
	if err := v.s.flush(ctx); err != nil {
		return fmt.Errorf("hand over: %w", err)
	}
	return nil
}

// flush waits until every queued message has been handed to the
// transport, the session has ended or ctx ends.
func (s *session) flush(ctx context.Context) error {
	for {
		s.wmu.Lock()
		idle := s.writer == nil && len(s.bulk) == 0 && len(s.control) == 0
		s.wmu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.ctx.Done():
			return s.closedErr()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
