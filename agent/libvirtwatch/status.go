package libvirtwatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"

	"github.com/vem-switch/vem/internal/fsutil"
)

// PortState is a vem port's state, following its VM as a cluster agent's
// resource follows its application: a VM stopped on purpose or migrated
// away is not a fault, so it raises no alarm.
type PortState string

// The port states.
const (
	// Online: the domain runs and the agent has the port attached.
	Online PortState = "online"
	// Offline: the domain does not run, and nothing says it failed:
	// defined but never started here, or stopped while unwatched for a
	// reason libvirt does not know.
	Offline PortState = "offline"
	// Faulted: the domain stopped unexpectedly (crashed, QEMU failed), or
	// it runs but its port could not be attached (refused by the agent,
	// agent unreachable, a wrong definition): the Reason says which.
	Faulted PortState = "faulted"
	// IntentionalOffline: the domain was stopped by its operator (shut
	// down, destroyed, saved) or migrated away.
	IntentionalOffline PortState = "intentional-offline"
	// Unknown: the port cannot be monitored: libvirt is unreachable.
	Unknown PortState = "unknown"
)

// Status is what the watcher writes to its status file.
type Status struct {
	URI string `json:"uri"`
	// Connected is whether the watcher has a working libvirt connection.
	Connected bool `json:"connected"`
	// Error is why it has none.
	Error string `json:"error,omitempty"`
	// LastResync is the RFC 3339 time of the last full reconciliation.
	LastResync string       `json:"lastResync,omitempty"`
	Ports      []PortStatus `json:"ports"`
}

// PortStatus is one vem port of a domain.
type PortStatus struct {
	Domain string `json:"domain"`
	UUID   string `json:"uuid"`
	// Interface is the port's tap: the live target dev, or the last one
	// known once the domain stopped.
	Interface string    `json:"interface,omitempty"`
	MAC       string    `json:"mac,omitempty"`
	Segment   string    `json:"segment,omitempty"`
	Profile   string    `json:"profile,omitempty"`
	State     PortState `json:"state"`
	Reason    string    `json:"reason,omitempty"`
	// Since is the RFC 3339 time of the last state change.
	Since string `json:"since"`
	// Attached is whether the watcher last saw the port attached to the
	// agent (or attached it).
	Attached bool `json:"attached"`
	// Gone marks a domain libvirt no longer knows (a transient domain
	// that stopped, an undefined one); it is forgotten after a while.
	Gone bool `json:"gone,omitempty"`
}

// ReadStatus reads a status file.
func ReadStatus(path string) (Status, error) {
	var st Status
	data, err := os.ReadFile(path)
	if err != nil {
		return st, fmt.Errorf("read libvirt watcher status: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("parse libvirt watcher status %s: %w", path, err)
	}
	return st, nil
}

func writeStatus(path string, st Status) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode status: %w", err)
	}
	if err := fsutil.WriteFileAtomic(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}

// readStatusIfAny reads a status file left by an earlier run, nothing if
// there is none.
func readStatusIfAny(path string) (Status, error) {
	st, err := ReadStatus(path)
	if errors.Is(err, os.ErrNotExist) {
		return Status{}, nil
	}
	return st, err
}

// PrintStatus writes st as a table for an operator.
func PrintStatus(w io.Writer, st Status) error {
	conn := "connected"
	if !st.Connected {
		conn = "NOT connected"
		if st.Error != "" {
			conn += ": " + st.Error
		}
	}
	fmt.Fprintf(w, "libvirt %s: %s\n", st.URI, conn)
	if st.LastResync != "" {
		fmt.Fprintf(w, "last resync: %s\n", st.LastResync)
	}
	ports := append([]PortStatus(nil), st.Ports...)
	sort.SliceStable(ports, func(i, j int) bool { return ports[i].Domain < ports[j].Domain })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tINTERFACE\tMAC\tSEGMENT\tSTATE\tSINCE\tREASON")
	for _, p := range ports {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Domain, dash(p.Interface), dash(p.MAC), dash(p.Segment), p.State, p.Since, p.Reason)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
