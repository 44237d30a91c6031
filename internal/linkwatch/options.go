package linkwatch

import (
	"time"

	"github.com/vem-switch/vem/internal/clock"
)

// DefaultPollInterval is how often the carrier of polled links is read:
// a loss is seen within 4 ms plus the query (tens of microseconds), well
// within the 10 ms a port-channel failover allows.
const DefaultPollInterval = 4 * time.Millisecond

// Backoff between resubscriptions: it starts at minBackoff and doubles up
// to maxBackoff while subscriptions keep failing; a subscription that lasted
// maxBackoff resets it.
const (
	minBackoff = 10 * time.Millisecond
	maxBackoff = time.Second
)

// Options configure a Watcher.
type Options struct {
	// NetNS is the path of the network namespace to watch (e.g.
	// /run/netns/x); empty means the namespace of the thread that calls
	// New.
	NetNS string
	// Clock paces polling and resubscription and stamps events; nil
	// means clock.System().
	Clock clock.Clock
	// PollInterval is how often polled links' carrier is read; 0 means
	// DefaultPollInterval, a negative value disables polling.
	PollInterval time.Duration
	// OnError, if set, is called with each subscription or poll failure
	// the Watcher recovers from (it resubscribes, or retries the poll),
	// for the caller to log. A failure repeated unchanged by the poll is
	// reported once. It is called from the Watcher's goroutines and must
	// not block.
	OnError func(error)
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = clock.System()
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	return o
}
