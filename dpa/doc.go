// Package dpa is the VEM's Data Path Agent: the VEM side of the control
// protocol. It keeps a session with every configured VSM (to hear all
// their heartbeats), attaches to one active VSM, follows switch requests,
// goes headless when its VSM falls silent, hands the configurations it
// receives to the agent through an Applier and acknowledges or refuses
// them, and carries the agent's port attaches and detaches to the VSM,
// queuing them while it has none.
//
// The rules, from the Nexus 1000V HA guide:
//
//   - Attached to one VSM, the DPA ignores the heartbeats of any other
//     active VSM while its own is heard (split brain included).
//   - A switch request from a VSM with a higher epoch than the attached
//     one's makes it detach from the original and attach to the new one; a
//     stale request (epoch not higher) or one whose name is not its
//     session's verified identity is ignored, logged and counted.
//   - No active heartbeat from its VSM for HeadlessAfter (default 15 s)
//     makes it headless: the datapath keeps its last configuration and
//     nothing is torn down. Headless, it attaches to the reachable active
//     VSM with the highest epoch as soon as there is one.
//   - Every Hello carries the last applied generation and the module
//     number, so the module survives a reattach; a session whose Hello
//     named another module is reopened before it is asked to attach.
//     Once attached, the VEM reopens such sessions to the other VSMs at
//     a random moment within a few seconds, so that a switchover finds
//     them current instead of every VEM redialling the new active.
//   - A snapshot is handed to the Applier, acknowledged once applied and
//     refused (NACK, with the reason) otherwise: the running state stays.
//   - Port events while not attached are queued and replayed in order on
//     attach. The agent applies at once the ports the last configuration
//     already serves (Serves).
//   - MAC distribution updates reach the Applier as the whole set of
//     static remote MACs.
//   - Replays are refused and logged, and change nothing: a heartbeat
//     whose sequence number is not above the session's last (it neither
//     refreshes the VSM nor puts off headless), an AttachAccepted no
//     attach request of the session asked for, and a snapshot older than
//     one already received since the last attach (NACKed). A stale switch
//     request is a replay too.
//   - Every applied change is checkpointed (package headless), and so are
//     headless entry and the queued port events: an agent restarted
//     (kill -9 included) while headless resumes headless at once, since
//     the same time, and still replays its queued port events.
//
// Run supervises the loop: a failure (a panic in a handler or in the
// Applier) closes the sessions and restarts the loop after a backoff,
// without touching the datapath; the VSMs then see the module removed and
// re-added. Time comes from a clock.Clock, so tests step a fake one.
package dpa
