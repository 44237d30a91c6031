package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// The messages between a running agent and its successor, one JSON object
// a line on their socket pair. The old agent sends ops; the successor
// sends states.
const (
	// Ops, old to successor.
	takeoverGo     = "takeover" // the old agent has let go: take over
	takeoverCommit = "commit"   // carry on alone
	takeoverStop   = "stop"     // stop, leaving the datapath as it is
	takeoverExit   = "exit"     // the old agent serves again: exit
	// States, successor to old.
	successorReady     = "ready"     // checked, waiting for takeover
	successorRunning   = "running"   // took over: serving the API
	successorCommitted = "committed" // on its own now
	successorStopped   = "stopped"   // let go after it took over; exits on exit
	successorFailed    = "failed"    // Error says why; it exits
)

// pipeMsg is one message on the pair.
type pipeMsg struct {
	Op     string `json:"op,omitempty"`
	State  string `json:"state,omitempty"`
	Error  string `json:"error,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// pipe is one end of the pair.
type pipe struct {
	conn net.Conn
	dec  *json.Decoder
	mu   sync.Mutex // one writer at a time
}

// newPipePair returns the old agent's end and the successor's (a file to
// hand to the child).
func newPipePair() (*pipe, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("handover socket pair: %w", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "handover")
	theirs := os.NewFile(uintptr(fds[1]), "handover-successor")
	p, err := pipeOf(mine)
	if err != nil {
		theirs.Close()
		return nil, nil, err
	}
	return p, theirs, nil
}

// pipeOf makes a pipe of f (closed: the pipe holds a duplicate).
func pipeOf(f *os.File) (*pipe, error) {
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("handover socket: %w", err)
	}
	return &pipe{conn: c, dec: json.NewDecoder(io.LimitReader(c, 1<<20))}, nil
}

func (p *pipe) send(m pipeMsg) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := p.conn.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("handover socket: %w", err)
	}
	return nil
}

// recv reads the next message; io.EOF when the other end closed.
func (p *pipe) recv() (pipeMsg, error) {
	var m pipeMsg
	err := p.dec.Decode(&m)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return m, err
}

func (p *pipe) close() error { return p.conn.Close() }
