package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/spec"
)

// The announce endpoint (an incoming live migration's switchover):
//
//	POST /v1/ports/{interface}/announce   body AnnounceRequest (optional)
//
// A domain migrating in is started on the destination (libvirt's start
// hook, its ports attached) while it still runs on the source; its ports
// are attached with AttachRequest.Incoming so the agent does not announce
// their MACs then, which would move them away from the running guest.
// vem-libvirt asks for the announcement when libvirt reports the domain
// resumed here; an operator may too (vemctl port announce).

// AnnounceRequest is the optional body of an announce request.
type AnnounceRequest struct {
	// PendingOnly announces the port only if its announcement is
	// deferred (an incoming attach not yet announced); otherwise the
	// request does nothing. Without it the port is announced anyway.
	PendingOnly bool `json:"pendingOnly,omitempty"`
}

// AnnounceReply says what an announce request did.
type AnnounceReply struct {
	Interface string `json:"interface"`
	// Announced is true when an announcement was started (it runs its
	// rounds in the background).
	Announced bool `json:"announced"`
	// WasDeferred is true when the port's announcement was deferred (an
	// incoming attach) until this request.
	WasDeferred bool `json:"wasDeferred"`
	// Reason says why nothing was announced (Announced false).
	Reason string `json:"reason,omitempty"`
}

// Announcer is a Backend that announces a vEth's MAC on request. An agent
// implements it; a Backend that does not answers 404.
type Announcer interface {
	// Announce starts the MAC announcement of the vEth on iface; an
	// unknown port wraps ErrNotFound, a port that cannot be announced
	// (admin down, not a vEth) ErrConflict.
	Announce(ctx context.Context, iface string, req AnnounceRequest) (AnnounceReply, error)
}

// IncomingAttacher is a Backend that can attach the port of an incoming
// domain without announcing it. A Backend without it attaches such a port
// as any other (announcing at once, as agents before it did).
type IncomingAttacher interface {
	// AttachIncoming attaches p as Attach does and defers its MAC
	// announcement until Announce (or a bound) says otherwise.
	AttachIncoming(ctx context.Context, p spec.Port) error
}

// attachPort attaches the port req asks for, incoming or not.
func (s *Server) attachPort(ctx context.Context, req AttachRequest) error {
	if req.Incoming {
		if ia, ok := s.backend.(IncomingAttacher); ok {
			return ia.AttachIncoming(ctx, req.Port())
		}
	}
	return s.backend.Attach(ctx, req.Port())
}

// announce answers POST /v1/ports/{interface}/announce.
func (s *Server) announce(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	a, ok := s.backend.(Announcer)
	if !ok {
		return nil, fmt.Errorf("%w: this agent does not announce MACs on request", ErrNotFound)
	}
	iface := r.PathValue("interface")
	var req AnnounceRequest
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, bodyError(err)
	}
	if len(bytes.TrimSpace(data)) > 0 { // the body is optional
		if err := decodeStrict(data, &req); err != nil {
			return nil, err
		}
	}
	reply, err := a.Announce(r.Context(), iface, req)
	if err != nil {
		return nil, fmt.Errorf("announce %s: %w", iface, err)
	}
	s.log.Info("port announce requested", append([]zap.Field{zap.String(logInterface, iface),
		zap.Bool("pendingOnly", req.PendingOnly), zap.Bool("announced", reply.Announced),
		zap.Bool("wasDeferred", reply.WasDeferred), zap.String("reason", reply.Reason)}, peerFields(r.Context())...)...)
	return reply, nil
}

// AttachIncoming attaches the vEth port p of a domain migrating (or being
// restored) in: it forwards at once, its MAC is announced on Announce.
func (c *Client) AttachIncoming(ctx context.Context, p spec.Port) error {
	req := NewAttachRequest(p)
	req.Incoming = true
	return c.do(ctx, http.MethodPost, "/v1/ports", nil, req, nil)
}

// Announce asks the agent to announce the MAC of the vEth on iface.
func (c *Client) Announce(ctx context.Context, iface string, req AnnounceRequest) (AnnounceReply, error) {
	var out AnnounceReply
	err := c.do(ctx, http.MethodPost, "/v1/ports/"+url.PathEscape(iface)+"/announce", nil, req, &out)
	return out, err
}
