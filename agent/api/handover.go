package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
)

// The handover endpoints (vem-agent upgrade, package agent/issu):
//
//	GET  /v1/handover   the agent's process and any handover in progress
//	POST /v1/handover   with "Connection: Upgrade" and "Upgrade: vem-handover":
//	                    101 Switching Protocols, then a handover session
//
// A session is a connection of its own, taken over from the HTTP server
// so that it outlives the server: the running agent closes its API for the
// successor while the session goes on. On it the orchestrator sends
// HandoverRequests and the agent answers each with a HandoverReply, one
// JSON object per line. Only root (or the agent's own user) may open one:
// a session makes the agent run a binary.

// HandoverProtocol is the Upgrade token of a handover session.
const HandoverProtocol = "vem-handover"

// The operations of a handover session, in the order an upgrade sends
// them; abort may come at any point.
const (
	// HandoverSpawn starts the successor (HandoverRequest.Binary) as the
	// agent's child with the agent's own flags and --takeover.
	HandoverSpawn = "spawn"
	// HandoverPrepare waits until the successor has loaded and checked
	// what it can without owning the datapath, and is ready.
	HandoverPrepare = "prepare"
	// HandoverSwitch quiesces the running agent (final checkpoints, loops
	// stopped, lock released; its programs stay in the links) and lets the
	// successor take the datapath over; answered once the successor runs.
	HandoverSwitch = "switch"
	// HandoverCommit lets the successor go on alone: the old agent exits
	// without touching the datapath.
	HandoverCommit = "commit"
	// HandoverAbort stops the successor; the old agent resumes (before the
	// switch it never stopped). Also what a session that ends before its
	// commit, or that hears nothing within its timeout, does by itself.
	HandoverAbort = "abort"
)

// HandoverRequest is one operation of a handover session.
type HandoverRequest struct {
	Op string `json:"op"`
	// Binary is the successor's executable (spawn).
	Binary string `json:"binary,omitempty"`
	// TimeoutMs bounds, on the agent's side, each operation and the
	// silence between two (spawn); the agent's default if zero.
	TimeoutMs int64 `json:"timeoutMs,omitempty"`
	// StableMs is how long the orchestrator watches the successor after
	// the switch before it commits (spawn): the silence the agent allows
	// then is twice the timeout and this.
	StableMs int64 `json:"stableMs,omitempty"`
}

// HandoverReply answers one HandoverRequest.
type HandoverReply struct {
	Op    string `json:"op"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// PID is the successor's (spawn, switch) or, after an abort, the
	// agent's own.
	PID int `json:"pid,omitempty"`
	// Detail says what was done, for the orchestrator's log.
	Detail string `json:"detail,omitempty"`
}

// HandoverStatus is the agent's process and handover state (GET
// /v1/handover).
type HandoverStatus struct {
	// PID is the agent's process ID.
	PID int `json:"pid"`
	// Executable is the binary the agent runs.
	Executable string `json:"executable"`
	// State is idle, or the last operation of the handover in progress.
	State string `json:"state"`
	// Successor is the spawned successor's PID while there is one.
	Successor int `json:"successor,omitempty"`
}

// Handoverer is the optional part of a Backend that hands the agent over
// to a successor. A Backend without it answers the handover endpoints
// with 404.
type Handoverer interface {
	// HandoverStatus reports the agent's process and handover state.
	HandoverStatus(ctx context.Context) (HandoverStatus, error)
	// Handover runs one session on s until it ends; s is closed after.
	Handover(ctx context.Context, s *HandoverSession) error
}

// HandoverSession is the agent's end of a handover session.
type HandoverSession struct {
	conn net.Conn
	dec  *json.Decoder
	enc  *json.Encoder
	Peer Peer // who opened it
}

// NewHandoverSession wraps the agent's end of a session's connection; r
// reads it (a buffered reader that may hold what was already read).
func NewHandoverSession(conn net.Conn, r io.Reader) *HandoverSession {
	return &HandoverSession{conn: conn, dec: json.NewDecoder(io.LimitReader(r, 1<<20)), enc: json.NewEncoder(conn)}
}

// Recv reads the next request, waiting at most timeout (none if zero).
// A session closed by the orchestrator is io.EOF.
func (s *HandoverSession) Recv(timeout time.Duration) (HandoverRequest, error) {
	var dl time.Time
	if timeout > 0 {
		dl = time.Now().Add(timeout)
	}
	_ = s.conn.SetReadDeadline(dl)
	var req HandoverRequest
	err := s.dec.Decode(&req)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return req, fmt.Errorf("handover session: no request within %v: %w", timeout, err)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
			err = io.EOF
		}
		return req, err
	}
	return req, nil
}

// Send writes a reply.
func (s *HandoverSession) Send(r HandoverReply) error {
	_ = s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return s.enc.Encode(r)
}

// Close closes the session's connection.
func (s *HandoverSession) Close() error { return s.conn.Close() }

// handoverStatus answers GET /v1/handover.
func (s *Server) handoverStatus(r *http.Request) (any, error) {
	h, ok := s.backend.(Handoverer)
	if !ok {
		return nil, fmt.Errorf("%w: this agent cannot hand over", ErrNotFound)
	}
	return h.HandoverStatus(r.Context())
}

// handover answers POST /v1/handover: it takes the connection over and
// runs a session on it.
func (s *Server) handover(w http.ResponseWriter, r *http.Request) {
	h, ok := s.backend.(Handoverer)
	if !ok {
		s.writeError(w, r, fmt.Errorf("%w: this agent cannot hand over", ErrNotFound))
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), HandoverProtocol) {
		s.writeError(w, r, fmt.Errorf("%w: a handover session needs \"Upgrade: %s\"", ErrInvalid, HandoverProtocol))
		return
	}
	peer, known := PeerFrom(r.Context())
	if !known || (peer.UID != 0 && int(peer.UID) != os.Geteuid()) {
		s.writeError(w, r, &Error{Status: http.StatusForbidden, Message: "a handover session is root's: it runs a binary as the agent"})
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		s.writeError(w, r, errors.New("handover: connection cannot be taken over"))
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		s.log.Error("handover: take the connection over", zap.Error(err))
		return
	}
	_ = conn.SetDeadline(time.Time{}) // the server's timeouts are not the session's
	if _, err := io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+HandoverProtocol+"\r\n\r\n"); err != nil {
		conn.Close()
		return
	}
	s.log.Info("handover session opened", peer.Fields()...)
	sess := NewHandoverSession(conn, brw.Reader)
	sess.Peer = peer
	defer sess.Close()
	// The session outlives the server (and the request's context, which
	// ends with the server): only its connection ends it.
	if err := h.Handover(context.WithoutCancel(r.Context()), sess); err != nil {
		s.log.Warn("handover session ended", zap.Error(err))
	}
}

// HandoverClient is the orchestrator's end of a handover session.
type HandoverClient struct {
	conn net.Conn
	dec  *json.Decoder
}

// OpenHandover opens a handover session with the agent.
func (c *Client) OpenHandover(ctx context.Context) (*HandoverClient, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		var de *dialError
		if errors.As(err, &de) {
			err = de.err
		}
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://vem-agent/v1/handover", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", HandoverProtocol)
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("open handover session on %s: %w", c.socket, err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("open handover session on %s: %w", c.socket, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		conn.Close()
		return nil, fmt.Errorf("open handover session: %w", responseError(resp, data))
	}
	_ = conn.SetDeadline(time.Time{})
	return &HandoverClient{conn: conn, dec: json.NewDecoder(io.LimitReader(br, 1<<20))}, nil
}

// Do sends req and waits for its reply until ctx ends, skipping the
// replies of earlier operations given up on. A reply that is not OK is
// an error with the agent's message; the reply comes with it.
func (h *HandoverClient) Do(ctx context.Context, req HandoverRequest) (HandoverReply, error) {
	_ = h.conn.SetDeadline(time.Time{}) // an earlier Do's cancel set one
	stop := context.AfterFunc(ctx, func() { _ = h.conn.SetDeadline(time.Now()) })
	defer stop()
	var rep HandoverReply
	data, err := json.Marshal(req)
	if err != nil {
		return rep, fmt.Errorf("handover %s: %w", req.Op, err)
	}
	if _, err := h.conn.Write(append(data, '\n')); err != nil {
		return rep, fmt.Errorf("handover %s: send: %w", req.Op, h.ctxErr(ctx, err))
	}
	for {
		rep = HandoverReply{}
		if err := h.dec.Decode(&rep); err != nil {
			if ctx.Err() != nil {
				// A decoder keeps its error: the next Do reads on
				// with a new one, from what this one buffered.
				h.dec = json.NewDecoder(io.MultiReader(h.dec.Buffered(), h.conn))
			}
			return rep, fmt.Errorf("handover %s: no reply: %w", req.Op, h.ctxErr(ctx, err))
		}
		// The reply of an operation given up on (the abort after a
		// phase timed out) comes first: not this one's.
		if rep.Op == req.Op {
			break
		}
	}
	if !rep.OK {
		return rep, fmt.Errorf("handover %s: %s", req.Op, rep.Error)
	}
	return rep, nil
}

// ctxErr prefers ctx's error to the deadline error it caused.
func (h *HandoverClient) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Close ends the session; before a commit the agent then aborts.
func (h *HandoverClient) Close() error { return h.conn.Close() }

// Handover reports the agent's process and handover state.
func (c *Client) Handover(ctx context.Context) (HandoverStatus, error) {
	var st HandoverStatus
	err := c.do(ctx, http.MethodGet, "/v1/handover", nil, nil, &st)
	return st, err
}
