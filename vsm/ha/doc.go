// Package ha is the VSM pair's redundancy logic (the Nexus 1000V HA guide,
// system-level high availability) as a deterministic state machine: a Node
// is driven by the peer's heartbeats, by local facts (attached modules,
// last configuration time, synchronisation done) and by a clock.Clock, and
// acts only through the narrow Actions interface. It opens no socket: the
// VSM (`vsm run`) carries heartbeats over the control and management
// paths, broadcasts switch requests to the VEMs, restarts and
// resynchronises, and shows Status as `show system redundancy status`.
//
// The rules, as implemented:
//
//   - Roles: standalone (module 1, default; it does not interact with
//     other VSMs and is active at once), primary (module 1) and secondary
//     (module 2). States: initializing (while booting), active, standby.
//   - Boot: a paired VSM sends discovery heartbeats on both paths for the
//     discovery window (3 s by default). A peer that is active makes it
//     standby; a peer that is also initializing makes the primary active
//     at once (the secondary waits for it); no peer heard by the end of
//     the window makes it active. One that still hears a peer which is
//     not active (a primary booting, or a standby about to take over from
//     it) waits another window.
//   - Heartbeats: every interval (1 s) an active or initializing VSM sends
//     a request on the control path; a standby only answers (the guide:
//     "a standby VSM sends heartbeats only in response to active VSM
//     requests"); every VSM answers a request on the path it came on.
//   - Degraded: when nothing is heard on the control path for half the
//     heartbeat-loss interval while the peer is present, the VSM is
//     degraded and its requests also go over the management path, until
//     the control path answers again. With no peer present requests go
//     over both paths (that is how a split brain is found on reconnect).
//   - Loss: nothing heard on either path for the heartbeat-loss interval
//     (6..30 s, 15 s by default). The active then shows no standby. A
//     stable (synchronised, "HA standby") standby takes over: it raises
//     the epoch above both its own and the last one the active announced,
//     records its standby→active switch time and broadcasts a switch
//     request; an unstable one restarts (Reboot) instead. A standby that
//     hears its active initializing (the active rebooted) does the same at
//     once.
//   - Split brain: an active VSM that has heard another active peer for
//     two heartbeat intervals (at least 2 s: the first heartbeats after a
//     heal were written during the cut and may be stale) compares the
//     Facts both announce, in SplitBrainLoser's order of precedence:
//     fewer attached modules restarts; then the older last configuration;
//     then the more recent last switch to active (the longer active wins);
//     then the secondary; then the greater name. Both VSMs compute the
//     same answer from the same two sets of facts. The loser restarts as
//     standby (RestartAsStandby) and resynchronises; the winner raises the
//     epoch and broadcasts a switch request, once: it compares again at
//     every heartbeat of the still-active loser (facts move as VEMs
//     follow it), restarting if they now make it the loser.
//   - Role collision: a heartbeat of the same domain and role from another
//     VSM is recorded (its name, path and latest collision time) and
//     reported when its entry is new; the table keeps at most 8 entries,
//     overwriting the one with the oldest collision, and drops an entry an
//     hour after its latest collision. Colliding heartbeats take no part
//     in negotiation.
//   - Switchover: only an active VSM whose peer is a stable standby may
//     switch over; otherwise Switchover returns ErrStandbyNotReady, whose
//     text is exactly "Failed to switchover (standby not ready to
//     takeover)". The active sets the takeover flag in its heartbeats; the
//     standby takes over as on a loss; the old active, on hearing it
//     active, restarts as standby and resynchronises. Not complete within
//     28 s, the old active resets (Reboot), which in turn makes the peer
//     take over or restart. After any switchover (manual or automatic) no
//     other starts until a stable standby is heard again.
//   - One-way loss: an active that declared its standby lost and hears it
//     again sets the reset-standby flag until the standby reports having
//     restarted (unstable); the standby restarts as standby and
//     resynchronises.
//   - Epoch: only ever raised (takeover, split-brain win, becoming active
//     at boot); a standby or initializing VSM adopts a greater one it hears.
package ha
