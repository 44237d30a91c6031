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
//
// The writer is a goroutine only while there is something to send: it
// starts when a message is queued on an idle session and leaves when both
// queues are empty. A VSM holds thousands of sessions that are idle but
// for one heartbeat a second, and a parked writer per session would hold
// a goroutine stack each (see ServerConfig.Serve for the other one saved).
// The queues are slices that hold nothing while empty.
type session struct {
	stream msgStream
	domain uint32
	self   Kind // this end's kind: what it may send
	peer   Kind // the other end's: what it may send
	log    *zap.Logger
	// logFields go with every line the session logs: a VSM names the VEM
	// this way rather than with a child logger, which would hold an
	// encoder buffer of its own for every session.
	logFields []zap.Field

	ctx    context.Context
	cancel context.CancelCauseFunc

	// wmu guards the queues and the writer's state.
	wmu     sync.Mutex
	control []*Envelope // at most controlQueue; nil while empty
	bulk    []*Envelope // at most bulkQueue; nil while empty
	// writer is closed when the running writer leaves; nil while none runs.
	writer chan struct{}
	// bulkSpace holds a token when the writer has taken a bulk message, for
	// a sender waiting on a full bulk queue.
	bulkSpace chan struct{}
	// bulkMu keeps multi-message sends (a snapshot's chunks, a split MAC
	// update) together in the bulk queue.
	bulkMu sync.Mutex
	nonce  atomic.Uint64

	in *inbox

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
		bulkSpace: make(chan struct{}, 1),
		in:        newInbox(),
	}
	s.handle = func(env *Envelope) (Event, error) { return eventOf(env), nil }
	return s
}

// warn logs msg and err with the session's fields.
func (s *session) warn(msg string, err error) {
	s.log.Warn(msg, append(s.logFields[:len(s.logFields):len(s.logFields)], zap.Error(err))...)
}

// start runs the reader; the writer runs when there is something to send.
func (s *session) start() {
	go s.read()
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
	for {
		env, err := s.stream.Recv()
		if err != nil {
			s.fail(fromStream(err))
			return
		}
		if err := checkEnvelope(env, s.domain, s.peer); err != nil {
			s.warn("message refused, ending the session", err)
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
			s.warn("message refused, ending the session", err)
			s.fail(err)
			return
		}
		if ev == nil {
			continue
		}
		if err := s.in.put(ev, isControl(env)); err != nil {
			s.warn("application not keeping up, ending the session", err)
			s.fail(err)
			return
		}
	}
}

// write sends queued messages, every waiting control message before the
// next bulk one, and leaves when both queues are empty or the session has
// ended. A bulk message is at most MaxMessageSize (a snapshot chunk at most
// MaxChunkData), so a control message waits at most for one bulk message
// already in Send, plus what the transport has buffered. done is closed
// when it leaves.
func (s *session) write(done chan struct{}) {
	defer close(done)
	for {
		s.wmu.Lock()
		env := s.next()
		if env == nil || s.ctx.Err() != nil {
			s.writer = nil
			s.wmu.Unlock()
			return
		}
		s.wmu.Unlock()
		if err := s.stream.Send(env); err != nil {
			s.fail(fromStream(err))
			s.wmu.Lock()
			s.writer = nil
			s.wmu.Unlock()
			return
		}
	}
}

// next takes the next message to send, control first, or nil; wmu held.
// An emptied queue drops its array, so that an idle session holds none.
func (s *session) next() *Envelope {
	var env *Envelope
	switch {
	case len(s.control) > 0:
		env, s.control[0] = s.control[0], nil
		s.control = s.control[1:]
		if len(s.control) == 0 {
			s.control = nil
		}
	case len(s.bulk) > 0:
		env, s.bulk[0] = s.bulk[0], nil
		s.bulk = s.bulk[1:]
		if len(s.bulk) == 0 {
			s.bulk = nil
		}
		select {
		case s.bulkSpace <- struct{}{}:
		default:
		}
	}
	return env
}

// kick starts the writer unless it runs; wmu held.
func (s *session) kick() {
	if s.writer == nil {
		s.writer = make(chan struct{})
		go s.write(s.writer)
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
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.ctx.Err() != nil {
		return s.closedErr()
	}
	if len(s.control) >= controlQueue {
		return fmt.Errorf("%w: %d control messages queued", ErrBusy, controlQueue)
	}
	s.control = append(s.control, env)
	s.kick()
	return nil
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
		for {
			ok, err := s.putBulk(env)
			if err != nil {
				return err
			}
			if ok {
				break
			}
			select {
			case <-s.bulkSpace:
			case <-ctx.Done():
				return ctx.Err()
			case <-s.ctx.Done():
				return s.closedErr()
			}
		}
	}
	return nil
}

// putBulk queues env unless the bulk queue is full or the session has
// ended.
func (s *session) putBulk(env *Envelope) (bool, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.ctx.Err() != nil {
		return false, s.closedErr()
	}
	if len(s.bulk) >= bulkQueue {
		return false, nil
	}
	s.bulk = append(s.bulk, env)
	s.kick()
	return true, nil
}

// waitWriter waits for the writer to leave, at most writerDrainTimeout:
// it may be inside a Send the transport holds.
func (s *session) waitWriter() bool {
	s.wmu.Lock()
	w := s.writer
	s.wmu.Unlock()
	if w == nil {
		return true
	}
	t := time.NewTimer(writerDrainTimeout)
	defer t.Stop()
	select {
	case <-w:
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
