package hook

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// An incoming live migration reaches the destination's hook as "migrate
// begin", then "prepare begin" and "start begin", all while the guest
// still runs on the source (libvirt has no hook at the switchover); a
// restore from a saved image as "restore begin", then the same two. The
// hook remembers the domain as incoming at migrate (or restore) begin, in
// a marker file named by its UUID, and the start's attach tells the agent
// so: the ports forward at once, but their MACs are announced only when
// vem-libvirt reports the domain resumed here (see agent/api.Announcer).

// IncomingTTL bounds how long a marker counts: migrate begin and start
// begin come within the same few seconds of a migration's prepare phase,
// and a marker left by a migration that failed in between must not make a
// later ordinary start of the domain incoming.
const IncomingTTL = 5 * time.Minute

// uuidRE is the shape of a libvirt UUID, the only names markers get.
var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

// incomingMarker is the marker file of the domain with uuid in dir.
func incomingMarker(dir, uuid string) (string, error) {
	if dir == "" {
		return "", errors.New("no directory for incoming markers")
	}
	if !uuidRE.MatchString(uuid) {
		return "", fmt.Errorf("domain UUID %s is not a UUID", quote(uuid))
	}
	return filepath.Join(dir, uuid), nil
}

// markIncoming records that the domain with uuid is migrating (or being
// restored) in.
func markIncoming(dir, uuid string) error {
	path, err := incomingMarker(dir, uuid)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("mark incoming: %w", err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		return fmt.Errorf("mark incoming: %w", err)
	}
	now := time.Now()
	if err := os.Chtimes(path, now, now); err != nil { // an old marker rewritten
		return fmt.Errorf("mark incoming: %w", err)
	}
	return nil
}

// takeIncoming reports whether the domain with uuid was marked incoming
// within IncomingTTL, removing the marker.
func takeIncoming(dir, uuid string, now time.Time) bool {
	path, err := incomingMarker(dir, uuid)
	if err != nil {
		return false
	}
	st, err := os.Stat(path)
	if err != nil {
		return false
	}
	_ = os.Remove(path)
	return now.Sub(st.ModTime()) < IncomingTTL
}

// dropIncoming removes the domain's marker, if any (it stopped: a
// migration that failed after its migrate begin).
func dropIncoming(dir, uuid string) {
	if path, err := incomingMarker(dir, uuid); err == nil {
		_ = os.Remove(path) // none is the usual case
	}
}
