// Package issu upgrades (or downgrades) a running vem-agent in service,
// make-before-break, in the phases of a virtual-chassis ISSU:
//
//	validate  the bundle is checked on this host (binary, objects, the
//	          running datapath's migration); the running agent answers
//	spawn     the running agent starts the bundle's agent as its child
//	          (same flags, --takeover)
//	prepare   the successor loads and checks what it can without owning
//	          the datapath, and reports ready
//	switch    the old agent quiesces (final LACP and DPA checkpoints, loops
//	          stopped, lock released, its programs still in the links); the
//	          successor takes the lock, adopts (migrates) the pins, swaps its
//	          programs in, resumes LACP from the checkpoint, serves the API
//	verify    the successor is healthy: engine current, every member that
//	          was bundled still bundled with the same partner, the DPA
//	          attached (VSM mode)
//	stable    and stays so for Options.Stable
//	commit    the old agent exits without touching the datapath; the
//	          bundle is promoted (the one started next)
//
// Each phase has a timeout; a cancel (the context) or a failure before
// switch stops the successor and leaves the old agent as it was, never
// having stopped; one from switch on rolls back: the successor is stopped
// and the old agent resumes (re-takes the lock and adopts what the
// successor left, migrating back where a layout changed). The old agent
// aborts by itself when its session ends early or falls silent.
package issu
