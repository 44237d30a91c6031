// Package fsutil holds the file-system primitives the agent's state
// depends on: replacing a file so that a crash leaves the old or the new
// content (WriteFileAtomic), and an instance lock that keeps two agents
// of one instance from running at once (LockInstance).
package fsutil
