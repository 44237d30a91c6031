package api

import (
	"context"
	"fmt"
	"net"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Peer is the process at the other end of an API connection, as the
// kernel recorded it when that process connected to the unix socket
// (SO_PEERCRED): who asked, for the log and for the Backend to record.
type Peer struct {
	PID int32  // the connecting process; it may have exited since
	UID uint32 // its effective user ID at connect time
	GID uint32 // its effective group ID at connect time
}

// Fields returns the zap fields that name p in the API's log lines.
func (p Peer) Fields() []zap.Field {
	return []zap.Field{zap.Uint32(logUID, p.UID), zap.Uint32(logGID, p.GID), zap.Int32(logPID, p.PID)}
}

// peerKey is the context key of a request's Peer.
type peerKey struct{}

// ContextWithPeer returns a copy of ctx that carries p, as the server's
// requests do; for tests of a Backend and for other transports.
func ContextWithPeer(ctx context.Context, p Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// PeerFrom returns the peer of the request whose context ctx is, and
// whether it is known: it is for every request the Server reads from a
// unix socket, and not for one handed to ServeHTTP directly or read from
// another kind of connection.
func PeerFrom(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}

// peerOf reads the credentials of the process connected on c.
func peerOf(c net.Conn) (Peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Peer{}, fmt.Errorf("peer credentials of a %T: not a unix socket", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Peer{}, fmt.Errorf("peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Peer{}, fmt.Errorf("peer credentials: %w", err)
	}
	if credErr != nil {
		return Peer{}, fmt.Errorf("peer credentials: SO_PEERCRED: %w", credErr)
	}
	return Peer{PID: cred.Pid, UID: cred.Uid, GID: cred.Gid}, nil
}

// connContext is the http.Server's ConnContext: it stores the peer's
// credentials in the context of every request read from c.
func (s *Server) connContext(ctx context.Context, c net.Conn) context.Context {
	p, err := peerOf(c)
	if err != nil {
		s.log.Warn("API connection without peer credentials", zap.Stringer("remote", c.RemoteAddr()), zap.Error(err))
		return ctx
	}
	return ContextWithPeer(ctx, p)
}

// peerFields returns the log fields of the peer of r's context, if known.
func peerFields(ctx context.Context) []zap.Field {
	if p, ok := PeerFrom(ctx); ok {
		return p.Fields()
	}
	return nil
}
