package pair

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/vsm/config"
	"github.com/vem-switch/vem/vsm/ha"
)

// Timeouts of the transport.
const (
	// DialTimeout bounds a dial and TLS handshake to the peer: under the
	// heartbeat interval, so a dead path costs one heartbeat a try.
	DialTimeout = time.Second
	// WriteTimeout bounds writing one heartbeat.
	WriteTimeout = time.Second
	// IdleTimeout closes an accepted heartbeat stream silent this long.
	IdleTimeout = time.Minute
	// UnackedTimeout aborts a connection whose sent data the peer has not
	// acknowledged for this long (TCP_USER_TIMEOUT): heartbeats written
	// while a path is cut are dropped with their connection, not
	// delivered late, with facts long stale, once the path heals.
	UnackedTimeout = 2 * time.Second
	// sendQueue is how many heartbeats wait for a slow path; more are
	// dropped (a heartbeat late by seconds is worthless).
	sendQueue = 4
)

// TransportConfig configures a Transport.
type TransportConfig struct {
	// Name and Domain are this VSM's; a peer's heartbeat must carry the
	// name its certificate gives and this domain.
	Name   string
	Domain int
	// TLS are this VSM's credentials: its certificate (a VSM's) and the
	// CA the peer's must chain to.
	TLS protocol.TLSFiles
	// Control and Management are the paths; Management may be nil.
	Control    config.Link
	Management *config.Link
	// OnHeartbeat receives every accepted heartbeat.
	OnHeartbeat func(ha.Path, ha.Heartbeat)
	// OnSync serves a sync stream the peer opened (on the control path,
	// or on the management path while the control path is down); it
	// owns conn. Nil: sync streams are refused.
	OnSync func(ctx context.Context, conn net.Conn, peer string)
	// Logger; nil logs nothing.
	Logger *zap.Logger
}

// Transport carries the pair's heartbeats over mutual TLS on the control
// and management paths, and opens the control path's sync streams. Each
// VSM sends on connections it dials to the peer's address and receives
// on connections it accepts on its own.
type Transport struct {
	cfg    TransportConfig
	log    *zap.Logger
	server *tls.Config
	client *tls.Config
	send   [2]chan ha.Heartbeat
}

// NewTransport loads the credentials; it opens nothing.
func NewTransport(cfg TransportConfig) (*Transport, error) {
	if cfg.Name == "" || cfg.Domain < 1 || cfg.Domain > config.MaxDomain {
		return nil, errors.New("pair transport: a name and a domain in 1..4095 are required")
	}
	if cfg.Control.Address == "" || cfg.Control.Peer == "" {
		return nil, errors.New("pair transport: the control path needs an address and a peer")
	}
	srv, err := protocol.ServerTLS(cfg.TLS, protocol.KindVSM)
	if err != nil {
		return nil, fmt.Errorf("pair transport: %w", err)
	}
	cli, err := protocol.ClientTLS(cfg.TLS, protocol.KindVSM, protocol.KindVSM)
	if err != nil {
		return nil, fmt.Errorf("pair transport: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	t := &Transport{cfg: cfg, log: log, server: srv, client: cli}
	for i := range t.send {
		t.send[i] = make(chan ha.Heartbeat, sendQueue)
	}
	return t, nil
}

// Listen opens the control and (if configured) management listeners.
func (t *Transport) Listen() (control, management net.Listener, err error) {
	if control, err = net.Listen("tcp", t.cfg.Control.Address); err != nil {
		return nil, nil, fmt.Errorf("listen on the control path: %w", err)
	}
	if t.cfg.Management != nil {
		if management, err = net.Listen("tcp", t.cfg.Management.Address); err != nil {
			_ = control.Close()
			return nil, nil, fmt.Errorf("listen on the management path: %w", err)
		}
	}
	return control, management, nil
}

// Send queues hb for the peer on path; it never waits, and drops hb when
// the path is that far behind.
func (t *Transport) Send(path ha.Path, hb ha.Heartbeat) {
	if path == ha.Management && t.cfg.Management == nil {
		return
	}
	select {
	case t.send[path] <- hb:
	default:
		t.log.Debug("heartbeat dropped: path behind", zap.Stringer("path", path))
	}
}

// Serve accepts on the listeners (management may be nil) and sends the
// queued heartbeats until ctx ends; it closes the listeners.
func (t *Transport) Serve(ctx context.Context, control, management net.Listener) error {
	var wg sync.WaitGroup
	lns := []net.Listener{control}
	if management != nil {
		lns = append(lns, management)
	}
	for i, ln := range lns {
		path := ha.Path(i)
		wg.Add(2)
		go func() { defer wg.Done(); t.accept(ctx, path, ln) }()
		go func() { defer wg.Done(); t.sender(ctx, path) }()
	}
	<-ctx.Done()
	for _, ln := range lns {
		_ = ln.Close()
	}
	wg.Wait()
	return nil
}

// link is path's addresses.
func (t *Transport) link(path ha.Path) config.Link {
	if path == ha.Management {
		return *t.cfg.Management
	}
	return t.cfg.Control
}

// Dial opens a stream of kind to the peer on path.
func (t *Transport) dial(ctx context.Context, path ha.Path, kind byte) (*tls.Conn, error) {
	l := t.link(path)
	d := &net.Dialer{Timeout: DialTimeout, Control: userTimeout}
	if host, _, err := net.SplitHostPort(l.Address); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			d.LocalAddr = &net.TCPAddr{IP: ip}
		}
	}
	td := &tls.Dialer{NetDialer: d, Config: t.client}
	dctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	c, err := td.DialContext(dctx, "tcp", l.Peer)
	if err != nil {
		return nil, fmt.Errorf("dial the peer on the %s path (%s): %w", path, l.Peer, err)
	}
	conn := c.(*tls.Conn)
	_ = conn.SetWriteDeadline(time.Now().Add(WriteTimeout))
	if _, err := conn.Write([]byte{kind}); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("open a stream to the peer on the %s path: %w", path, err)
	}
	_ = conn.SetWriteDeadline(time.Time{})
	return conn, nil
}

// userTimeout sets TCP_USER_TIMEOUT to UnackedTimeout on a socket.
func userTimeout(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(UnackedTimeout/time.Millisecond))
	})
	return errors.Join(err, serr)
}

// DialSync opens a sync stream to the peer on the control path or, when
// that fails (the control path is down: the pair is degraded), on the
// management path, so that the standby stays synchronised while degraded.
func (t *Transport) DialSync(ctx context.Context) (net.Conn, ha.Path, error) {
	conn, err := t.dial(ctx, ha.Control, streamSync)
	if err == nil || t.cfg.Management == nil || ctx.Err() != nil {
		return conn, ha.Control, err
	}
	mconn, merr := t.dial(ctx, ha.Management, streamSync)
	if merr != nil {
		return nil, ha.Control, errors.Join(err, merr)
	}
	return mconn, ha.Management, nil
}

// sender writes path's queued heartbeats on a connection it dials, and
// dials again after any failure, at the next heartbeat.
func (t *Transport) sender(ctx context.Context, path ha.Path) {
	var conn *tls.Conn
	var gone chan struct{} // closed when the peer ends conn
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	for {
		var hb ha.Heartbeat
		select {
		case <-ctx.Done():
			return
		case hb = <-t.send[path]:
		}
		data, err := EncodeHeartbeat(hb)
		if err != nil {
			t.log.Error("heartbeat not encoded", zap.Error(err))
			continue
		}
		if conn != nil {
			select {
			case <-gone:
				// The peer closed it (it restarted): a write would be
				// lost, and the next one fail; dial its new process now.
				_ = conn.Close()
				conn = nil
			default:
			}
		}
		if conn == nil {
			if conn, err = t.dial(ctx, path, streamHeartbeats); err != nil {
				t.log.Debug("heartbeat not sent", zap.Stringer("path", path), zap.Error(err))
				continue
			}
			// The peer never writes on a heartbeat stream: a read ends
			// only when it closes the connection (or this side does).
			gone = make(chan struct{})
			go func(c *tls.Conn, gone chan struct{}) {
				defer close(gone)
				_, _ = io.Copy(io.Discard, c)
			}(conn, gone)
		}
		_ = conn.SetWriteDeadline(time.Now().Add(WriteTimeout))
		if _, err := conn.Write(data); err != nil {
			t.log.Debug("heartbeat not sent", zap.Stringer("path", path), zap.Error(err))
			_ = conn.Close()
			conn = nil
		}
	}
}

// accept serves the connections the peer opens on path.
func (t *Transport) accept(ctx context.Context, path ha.Path, ln net.Listener) {
	var wg sync.WaitGroup
	defer wg.Wait()
	var mu sync.Mutex
	open := map[net.Conn]struct{}{}
	go func() {
		<-ctx.Done()
		mu.Lock()
		defer mu.Unlock()
		for c := range open {
			_ = c.Close()
		}
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				t.log.Warn("pair listener failed", zap.Stringer("path", path), zap.Error(err))
			}
			return
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			_ = c.Close()
			return
		}
		open[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				mu.Lock()
				delete(open, c)
				mu.Unlock()
				_ = c.Close()
			}()
			if err := t.serveConn(ctx, path, c); err != nil && ctx.Err() == nil {
				t.log.Warn("pair connection refused or ended", zap.Stringer("path", path),
					zap.Stringer("from", c.RemoteAddr()), zap.Error(err))
			}
		}()
	}
}

// serveConn authenticates one accepted connection (mutual TLS: a VSM's
// certificate of the pair's CA, not this VSM's own name) and serves its
// stream.
func (t *Transport) serveConn(ctx context.Context, path ha.Path, c net.Conn) error {
	conn := tls.Server(c, t.server)
	_ = conn.SetDeadline(time.Now().Add(2 * DialTimeout))
	if err := conn.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	peer := conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	if peer == t.cfg.Name {
		return fmt.Errorf("refused: the peer's certificate is this VSM's own (%s)", peer)
	}
	var kind [1]byte
	if _, err := conn.Read(kind[:]); err != nil {
		return fmt.Errorf("read the stream kind: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	switch {
	case kind[0] == streamHeartbeats:
		return t.heartbeats(path, conn, peer)
	case kind[0] == streamSync && t.cfg.OnSync != nil:
		t.cfg.OnSync(ctx, conn, peer)
		return nil
	}
	return fmt.Errorf("refused: stream kind %q on the %s path", kind[0], path)
}

// heartbeats reads peer's heartbeats until the stream ends or breaks a
// rule: a malformed frame, another domain, or a name not the
// certificate's ends it.
func (t *Transport) heartbeats(path ha.Path, conn net.Conn, peer string) error {
	for {
		_ = conn.SetReadDeadline(time.Now().Add(IdleTimeout))
		body, err := readFrame(conn)
		if err != nil {
			if errors.Is(err, ErrMalformed) {
				return err
			}
			return nil // closed or idle
		}
		hb, err := DecodeHeartbeat(body)
		if err != nil {
			return err
		}
		if hb.Domain != t.cfg.Domain {
			return fmt.Errorf("refused: heartbeat of domain %d from %s, this VSM is of domain %d", hb.Domain, peer, t.cfg.Domain)
		}
		if hb.Name != peer {
			return fmt.Errorf("refused: heartbeat names %q, the certificate %q", hb.Name, peer)
		}
		if t.cfg.OnHeartbeat != nil {
			t.cfg.OnHeartbeat(path, hb)
		}
	}
}
