package protocol

import (
	"context"
	"fmt"
	"sync"
)

// inbox holds received events until the application takes them: control
// events first, bulk events in order. The session's reader never waits on
// the application, so that the stream is always read and HTTP/2 flow
// control never holds a heartbeat behind bulk data the application has not
// consumed; what bounds memory instead is maxPendingEvents and the
// coalescing of configurations (a newer one replaces a pending older one,
// which is never acknowledged, as in xDS).
type inbox struct {
	mu      sync.Mutex
	control []Event
	bulk    []Event
	ready   chan struct{} // holds a token while events are pending
}

func newInbox() *inbox { return &inbox{ready: make(chan struct{}, 1)} }

// put queues ev.
func (in *inbox) put(ev Event, control bool) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.control)+len(in.bulk) >= maxPendingEvents {
		return fmt.Errorf("%w: %d received messages not yet taken by the application", ErrBusy, maxPendingEvents)
	}
	switch {
	case control:
		in.control = append(in.control, ev)
	default:
		if _, ok := ev.(*rawConfig); ok {
			// Only the newest configuration matters; it goes where it
			// arrived, after the updates sent before it.
			for i, old := range in.bulk {
				if _, ok := old.(*rawConfig); ok {
					in.bulk = append(in.bulk[:i], in.bulk[i+1:]...)
					break
				}
			}
		}
		in.bulk = append(in.bulk, ev)
	}
	select {
	case in.ready <- struct{}{}:
	default:
	}
	return nil
}

// take returns the next event, control first, or nil.
func (in *inbox) take() Event {
	in.mu.Lock()
	defer in.mu.Unlock()
	var ev Event
	switch {
	case len(in.control) > 0:
		ev, in.control[0] = in.control[0], nil
		in.control = in.control[1:]
	case len(in.bulk) > 0:
		ev, in.bulk[0] = in.bulk[0], nil
		in.bulk = in.bulk[1:]
	default:
		return nil
	}
	if len(in.control)+len(in.bulk) > 0 {
		select {
		case in.ready <- struct{}{}:
		default:
		}
	}
	return ev
}

// recv waits for the next event until ctx ends or done closes; once done
// has closed it still returns what is pending, then errFn's error.
func (in *inbox) recv(ctx context.Context, done <-chan struct{}, errFn func() error) (Event, error) {
	for {
		if ev := in.take(); ev != nil {
			return ev, nil
		}
		select {
		case <-in.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-done:
			if ev := in.take(); ev != nil {
				return ev, nil
			}
			return nil, errFn()
		}
	}
}
