package protocol

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// msgStream is the gRPC stream under a session, from either end.
type msgStream interface {
	Send(*Envelope) error
	Recv() (*Envelope, error)
}

// session is what both ends share: one reader that always reads and
// checks every message, one writer that always sends control messages
// before bulk ones, and the inbox in between.
type session struct {
	stream msgStream
	domain uint32
	self   Kind // this end's kind: what it may send
	peer   Kind // the other end's: what it may send
	log    *zap.Logger

	ctx    context.Context
	cancel context.CancelCauseFunc

	control chan *Envelope
	bulk    chan *Envelope
	// bulkMu keeps multi-message sends (a snapshot's chunks, a split MAC
	// update) together in the bulk queue.
	bulkMu sync.Mutex
	nonce  atomic.Uint64

	in         *inbox
	readerDone chan struct{}
	writerDone chan struct{}

	// handle turns a checked envelope into an event (nil: nothing to
	// deliver); an error ends the session. It runs on the reader only.
	handle func(*Envelope) (Event, error)
}

// newSession makes a session over st; start runs it.
func newSession(parent context.Context, st msgStream, domain uint32, self, peer Kind, log *zap.Logger) *session {
	ctx, cancel := context.WithCancelCause(parent)
	s := &session{
		stream: st, domain: domain, self: self, peer: peer, log: log,
		ctx: ctx, cancel: cancel,
		control:    make(chan *Envelope, controlQueue),
		bulk:       make(chan *Envelope, bulkQueue),
		in:         newInbox(),
		readerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	s.handle = func(env *Envelope) (Event, error) { return eventOf(env), nil }
	return s
}

// start runs the reader and the writer.
func (s *session) start() {
	go s.read()
	go s.write()
}

// fail ends the session with err as its cause (the first cause wins).
func (s *session) fail(err error) {
	if err == nil {
		err = ErrClosed
	}
	s.cancel(err)
}

// err is why the session ended, nil while it runs.
func (s *session) err() error {
	if s.ctx.Err() == nil {
		return nil
	}
	return context.Cause(s.ctx)
}

// closedErr is err, or ErrClosed if the session has not failed.
func (s *session) closedErr() error {
	if err := s.err(); err != nil {
		return err
	}
	return ErrClosed
}

// read reads the stream until it ends, checking every message; an invalid
// one ends this session only.
func (s *session) read() {
	defer close(s.readerDone)
	for {
		env, err := s.stream.Recv()
		if err != nil {
			s.fail(fromStream(err))
			return
		}
		if err := checkEnvelope(env, s.domain, s.peer); err != nil {
			s.log.Warn("message refused, ending the session", zap.Error(err))
			s.fail(err)
			return
		}
		if _, ok := env.GetBody().(*Envelope_Hello); ok {
			s.fail(fmt.Errorf("%w: a second hello", ErrMalformed))
			return
		}
		if _, ok := env.GetBody().(*Envelope_Welcome); ok {
			s.fail(fmt.Errorf("%w: a second welcome", ErrMalformed))
			return
		}
		ev, err := s.handle(env)
		if err != nil {
			s.log.Warn("message refused, ending the session", zap.Error(err))
			s.fail(err)
			return
		}
		if ev == nil {
			continue
		}
		if err := s.in.put(ev, isControl(env)); err != nil {
			s.log.Warn("application not keeping up, ending the session", zap.Error(err))
			s.fail(err)
			return
		}
	}
}

// write sends queued messages, every waiting control message before the
// next bulk one. A bulk message is at most MaxMessageSize (a snapshot
// chunk at most MaxChunkData), so a control message waits at most for
// one bulk message already in Send, plus what the transport has buffered.
func (s *session) write() {
	defer close(s.writerDone)
	for {
		var env *Envelope
		select {
		case env = <-s.control:
		default:
			select {
			case env = <-s.control:
			case env = <-s.bulk:
			case <-s.ctx.Done():
				return
			}
		}
		if err := s.stream.Send(env); err != nil {
			s.fail(fromStream(err))
			return
		}
	}
}

// wrap puts a message in an envelope of this session's domain and checks
// that this end may send it: a bug here is caught before the peer sees it.
func (s *session) wrap(env *Envelope) error {
	env.Domain = s.domain
	if err := checkEnvelope(env, s.domain, s.self); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// sendControl queues a control message without waiting: the queue only
// fills when the peer has stopped reading, and a heartbeat loop must not
// stall on one peer.
func (s *session) sendControl(env *Envelope) error {
	if err := s.wrap(env); err != nil {
		return err
	}
	if s.ctx.Err() != nil {
		return s.closedErr()
	}
	select {
	case s.control <- env:
		return nil
	default:
		return fmt.Errorf("%w: %d control messages queued", ErrBusy, controlQueue)
	}
}

// sendBulk queues bulk messages in order, together, waiting while the
// bulk queue is full.
func (s *session) sendBulk(ctx context.Context, envs ...*Envelope) error {
	for _, env := range envs {
		if err := s.wrap(env); err != nil {
			return err
		}
	}
	s.bulkMu.Lock()
	defer s.bulkMu.Unlock()
	for _, env := range envs {
		select {
		case s.bulk <- env:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.ctx.Done():
			return s.closedErr()
		}
	}
	return nil
}

// waitWriter waits for the writer to leave, at most writerDrainTimeout:
// it may be inside a Send the transport holds.
func (s *session) waitWriter() bool {
	t := time.NewTimer(writerDrainTimeout)
	defer t.Stop()
	select {
	case <-s.writerDone:
		return true
	case <-t.C:
		return false
	}
}

// recv is the application's next event.
func (s *session) recv(ctx context.Context) (Event, error) {
	return s.in.recv(ctx, s.ctx.Done(), s.closedErr)
}

// isClosed reports whether err only says the session ended normally.
func isClosed(err error) bool { return err == nil || errors.Is(err, ErrClosed) }
