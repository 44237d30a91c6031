package dpa

import (
	"context"
	"fmt"
	"time"

	"github.com/vem-switch/vem/protocol"
)

// Session is the DPA's view of its session with one VSM: what
// *protocol.VSMSession offers, plus its peer's verified name. Tests use
// fakes.
type Session interface {
	// Name is the VSM's verified name (its certificate's).
	Name() string
	// Recv returns the VSM's next event, or why the session ended.
	Recv(ctx context.Context) (protocol.Event, error)
	// LastHeartbeat is the latest heartbeat and when it arrived, whether
	// or not Recv has delivered it yet (zero before the first).
	LastHeartbeat() (*protocol.Heartbeat, time.Time)
	// RequestAttach asks the VSM to make this VEM its module.
	RequestAttach(reason protocol.AttachReason) error
	// Ack and Nack answer a configuration.
	Ack(c *protocol.Config) error
	Nack(c *protocol.Config, reason error) error
	// AttachPort and DetachPort carry the agent's port events.
	AttachPort(ctx context.Context, p *protocol.PortAttach) error
	DetachPort(ctx context.Context, p *protocol.PortDetach) error
	// Detach tells the VSM this VEM leaves it.
	Detach(ctx context.Context, reason string) error
	// HandOver tells the VSM this VEM's agent is handed over to its
	// successor on the host, and returns once that has left.
	HandOver(ctx context.Context) error
	// Close ends the session.
	Close() error
}

// Facts are what the VEM's Hello says it holds.
type Facts struct {
	// LastGeneration is the generation of the configuration it forwards
	// on (0: none).
	LastGeneration uint64
	// Module is the module number it held (0: none).
	Module uint32
}

// Dialer opens sessions.
type Dialer interface {
	// Dial opens a session with the VSM at addr, its Hello carrying f.
	Dial(ctx context.Context, addr string, f Facts) (Session, error)
}

// ProtocolDialer dials VSMs with package protocol: Config is the VEM's
// client configuration, whose LastGeneration and Module each Dial
// replaces with the facts of the moment.
type ProtocolDialer struct {
	Config protocol.ClientConfig
}

// Dial opens a protocol session with the VSM at addr.
func (p ProtocolDialer) Dial(ctx context.Context, addr string, f Facts) (Session, error) {
	cfg := p.Config
	cfg.LastGeneration, cfg.Module = f.LastGeneration, f.Module
	s, err := protocol.Dial(ctx, addr, cfg)
	if err != nil {
		return nil, fmt.Errorf("dpa: %w", err)
	}
	return protocolSession{s}, nil
}

// protocolSession adapts *protocol.VSMSession to Session.
type protocolSession struct{ *protocol.VSMSession }

func (s protocolSession) Name() string { return s.Peer().Name }
