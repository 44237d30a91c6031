// Package linkwatch keeps the state of every network interface of one
// network namespace and tells any number of subscribers what changes.
//
// One Watcher per namespace serves the whole agent: the engine (vEths
// coming and going), the port-channels and LACP (member carrier). It
// subscribes to netlink link notifications, starting with a dump of the
// existing links. When the subscription fails (a receive error, an
// interrupted dump, or ENOBUFS, which means the kernel dropped
// notifications) it resubscribes with backoff on its clock.Clock and
// relists: the new dump is compared with the state kept, so links that
// changed or vanished meanwhile are reported like any other change.
//
// # Fan-out without blocking
//
// A Subscription never makes the Watcher wait. It holds at most one pending
// Event per ifindex, the latest (changes of one link coalesce), and a
// ready channel of capacity one that is signalled whenever something is
// pending. The subscriber waits on Ready and takes the pending events with
// Events. A slow subscriber thus misses intermediate states of a link, never
// its latest one, and its backlog is bounded by the number of links.
//
// # Fast carrier
//
// The kernel's linkwatch delays the notification of a carrier change
// (RTM_NEWLINK) by up to a second after any other link event on the host,
// in any namespace, while the carrier bit itself (IFF_LOWER_UP in an
// RTM_GETLINK answer) changes at once. So for the links a subscriber names
// with Subscription.Poll (a port-channel's members) the Watcher asks the
// kernel for their flags every Options.PollInterval (DefaultPollInterval,
// 4 ms): one sendto carrying one RTM_GETLINK per ifindex (statistics left
// out) and one recvfrom per answer, on a socket in the watched namespace
// (never /sys/class/net, which shows the namespace sysfs was mounted in).
// For polled links the polled admin and carrier flags are authoritative:
// a notification the kernel queued before a poll cannot take a link back
// to an older state.
//
// # Use
//
//	w, err := linkwatch.New(linkwatch.Options{NetNS: path}) // "" = this thread's namespace
//	go w.Run(ctx)
//	sub := w.Subscribe() // queues the current state of every link
//	defer sub.Close()
//	sub.Poll("eth1", "eth2") // fast carrier for these names
//	for {
//		select {
//		case <-ctx.Done():
//			return
//		case <-sub.Ready():
//			for _, e := range sub.Events() {
//				// e.Link is the new state; e.Gone: deleted; e.OldName: renamed
//			}
//		}
//	}
package linkwatch
