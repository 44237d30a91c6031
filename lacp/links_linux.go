package lacp

import (
	"context"

	"github.com/vem-switch/vem/internal/linkwatch"
)

// Links is where a Runner hears of its members' links: a
// *linkwatch.Watcher of the members' namespace.
type Links interface {
	// Subscribe returns a subscription to every link's changes, with
	// the current state pending.
	Subscribe() *linkwatch.Subscription
}

// watchLinks applies the members' link changes until ctx ends. A member
// renamed away counts as deleted.
func (r *Runner) watchLinks(ctx context.Context, sub *linkwatch.Subscription) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.Ready():
		}
		for _, e := range sub.Events() {
			if _, member := r.ports[e.OldName]; member {
				r.setLink(e.OldName, false, true, e.Link.Index)
			}
			if _, member := r.ports[e.Link.Name]; member {
				r.setLink(e.Link.Name, !e.Gone && e.Link.Up(), e.Gone, e.Link.Index)
			}
		}
	}
}

// A Watcher is what the agent passes.
var _ Links = (*linkwatch.Watcher)(nil)
