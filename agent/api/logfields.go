package api

// The names of the fields of the API's log lines: one name for one thing
// in every line, so that a log query for a port or a caller finds them all.
const (
	logMethod    = "method"
	logPath      = "path"
	logStatus    = "status"
	logInterface = "interface" // a port's host-side interface (tap)
	logMAC       = "mac"
	logSegment   = "segment"
	logProfile   = "profile"
	logIPs       = "ips"
	logUID       = "uid" // the caller's user ID (SO_PEERCRED)
	logGID       = "gid" // the caller's group ID
	logPID       = "pid" // the caller's process ID
)
