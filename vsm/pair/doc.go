// Package pair runs one VSM of an HA pair (`vsm run` with role primary or
// secondary): the redundancy state machine of package ha, fed by the
// peer's heartbeats, with its actions carried out on the VEM sessions and
// the store, and the replication of the store from the active to the
// standby.
//
// # Transport
//
// Heartbeats go over TCP with mutual TLS (TLS 1.3) on both paths, the
// control path and the management path, with the pair's VSM
// certificates: both ends must present a certificate of kind vsm (the
// subject's organizational unit) chaining to the CA of the VSM file, and
// a heartbeat must carry the name its sender's certificate carries and
// this VSM's domain; anything else closes the connection. Mutual TLS
// rather than HMAC-signed UDP: the two VSMs share no secret (the CA
// certificate is public, the CA key is not on them), so a key "derived
// from the CA material" would authenticate nothing, and a key exchange to
// make one would be TLS again. One heartbeat a second over a kept-open
// connection costs nothing; a path that breaks is dialled again at the
// next heartbeat (dial and write bounded by 1 s, a queue of 4 heartbeats
// per path, older ones dropped), so a dead path costs the sender nothing
// but the heartbeats on it, and the heartbeat-loss interval is at least
// 6 s. Data unacknowledged for 2 s aborts a connection (TCP_USER_TIMEOUT),
// so heartbeats written while a path is cut are not delivered, stale,
// when it heals; a connection the peer closes (it restarted) is dialled
// again at the next heartbeat.
//
// Each VSM sends on connections it dials to the peer's address (from its
// own address on the path, so that a path is its interfaces) and
// receives on the connections it accepts. A stream starts with one byte:
// 'H' heartbeats (both paths), 'S' sync (the control path, or the
// management path while the control path is down). Frames are a
// 2-byte length and at most MaxFrame (1 KiB) of JSON, decoded strictly
// (unknown fields, trailing data, a version not this build's or next to
// it (a newer neighbour's unknown fields are ignored, for rolling
// upgrades), an empty name, a
// domain outside 1..4095, a standalone role or an unknown state are
// refused); FuzzDecodeHeartbeat exercises the decoder.
//
// # Replication
//
// The standby pulls; the active answers. On Resynchronise (a VSM that
// becomes standby, or restarts as one) the standby opens a sync stream on
// the control path (on the management path when it cannot: a degraded
// pair stays synchronised, so a change acknowledged while degraded
// survives the active's loss) and asks for a full snapshot: the active writes its
// whole data file as one bbolt read transaction sees it
// (store.WriteSnapshot, a consistent copy of the network, the bindings,
// the modules, the epoch and the change log), and the standby replaces
// its own with it in one transaction (store.Restore), after which it is
// stable (ha.Node.Synchronised, "HA standby"). It then asks for what
// comes after what it holds, naming the generation (which acknowledges
// it) and the active's store revision (store.Revision: every write,
// including module numbers and the epoch, which make no generation); the
// active answers when its revision moves, again with a full snapshot
// (simple and correct; the cost is the data file's size per write, a few
// hundred KiB for thousands of ports), or after 1 s with "unchanged";
// either end gives up a stream silent for 3 s, and the standby follows
// again at once.
// Shipping only the writes of each revision is the next step.
//
// A northbound change on the active (api.Info.Replicated) is answered
// only once the stable standby has acknowledged its generation, at most
// DefaultReplicationTimeout (3 s) later; one not acknowledged by then is
// answered with X-Vsm-Replicated: false, the standby having fallen behind
// (it catches up by itself: its next request gets the latest state). A
// stable standby still heard whose sync stream is down (the control path
// just went) is waited for the same way: it follows again within a few
// seconds. With no stable standby the change is answered at once. A VSM
// that is not
// active refuses northbound changes (503). Changes the VEMs make (port
// bindings) are replicated the same way but do not wait.
//
// # VEM sessions
//
// Only the active attaches VEMs, binds their ports and configures them.
// A VSM that is not active keeps its sessions open and heartbeats on
// them with its state (standby) so that the VEMs know it; an attach or
// port request to it is ignored or refused, and its sessions are
// detached when it stops being active. A VSM that takes over persists
// its new epoch (store.SetEpoch), heartbeats as active at that epoch and
// sends every session's VEM a switch request.
package pair
