package pair

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/vsm/config"
	"github.com/vem-switch/vem/vsm/ha"
)

type received struct {
	path ha.Path
	hb   ha.Heartbeat
}

func files(dir, name string) protocol.TLSFiles {
	return protocol.TLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, name+".pem"),
		Key: filepath.Join(dir, name+"-key.pem")}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// endpoint is one transport serving on loopback listeners.
type endpoint struct {
	tr       *Transport
	ctl, mgt net.Listener
	got      chan received
}

// pairOf starts transports a (domain da) and b (domain db), each the
// other's peer on both paths.
func pairOf(t *testing.T, pki string, da, db int) (a, b *endpoint) {
	t.Helper()
	a = &endpoint{ctl: listen(t), mgt: listen(t), got: make(chan received, 16)}
	b = &endpoint{ctl: listen(t), mgt: listen(t), got: make(chan received, 16)}
	mk := func(e, peer *endpoint, name string, domain int) {
		var err error
		e.tr, err = NewTransport(TransportConfig{Name: name, Domain: domain, TLS: files(pki, name),
			Control:     config.Link{Address: e.ctl.Addr().String(), Peer: peer.ctl.Addr().String()},
			Management:  &config.Link{Address: e.mgt.Addr().String(), Peer: peer.mgt.Addr().String()},
			OnHeartbeat: func(p ha.Path, hb ha.Heartbeat) { e.got <- received{p, hb} }})
		if err != nil {
			t.Fatal(err)
		}
	}
	mk(a, b, "vsm-a", da)
	mk(b, a, "vsm-b", db)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	for _, e := range []*endpoint{a, b} {
		go func() { _ = e.tr.Serve(ctx, e.ctl, e.mgt); done <- struct{}{} }()
	}
	t.Cleanup(func() { cancel(); <-done; <-done })
	return a, b
}

func devPKI(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := protocol.GenerateDevPKI(dir, []string{"vsm-a", "vsm-b"}, []string{"hv1"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func hbOf(name string, domain int) ha.Heartbeat {
	return ha.Heartbeat{Name: name, Domain: domain, Role: config.RolePrimary, State: ha.Active, Epoch: 2, Request: true}
}

// sendUntil sends hb on path every 50 ms until e receives one, or fails
// after 3 s.
func sendUntil(t *testing.T, from *endpoint, to *endpoint, path ha.Path, hb ha.Heartbeat) received {
	t.Helper()
	deadline := time.After(3 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		from.tr.Send(path, hb)
		select {
		case r := <-to.got:
			return r
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no heartbeat received on the %s path", path)
		}
	}
}

// expectNone fails if e receives anything within d.
func expectNone(t *testing.T, e *endpoint, d time.Duration) {
	t.Helper()
	select {
	case r := <-e.got:
		t.Fatalf("refused heartbeat delivered: %+v", r)
	case <-time.After(d):
	}
}

func TestTransportDeliversOnBothPaths(t *testing.T) {
	a, b := pairOf(t, devPKI(t), 100, 100)
	for _, p := range []ha.Path{ha.Control, ha.Management} {
		hb := hbOf("vsm-a", 100)
		r := sendUntil(t, a, b, p, hb)
		if r.path != p || r.hb.Name != "vsm-a" || r.hb.Epoch != 2 || !r.hb.Request {
			t.Fatalf("%s: got %+v", p, r)
		}
	}
	// And the answer back.
	r := sendUntil(t, b, a, ha.Control, hbOf("vsm-b", 100))
	if r.hb.Name != "vsm-b" {
		t.Fatalf("got %+v", r)
	}
}

func TestTransportRefusesAnotherDomain(t *testing.T) {
	a, b := pairOf(t, devPKI(t), 100, 200)
	for range 5 {
		a.tr.Send(ha.Control, hbOf("vsm-a", 100))
		time.Sleep(50 * time.Millisecond)
	}
	expectNone(t, b, 300*time.Millisecond)
}

func TestTransportRefusesANameNotTheCertificates(t *testing.T) {
	a, b := pairOf(t, devPKI(t), 100, 100)
	for range 5 {
		a.tr.Send(ha.Control, hbOf("vsm-x", 100))
		time.Sleep(50 * time.Millisecond)
	}
	expectNone(t, b, 300*time.Millisecond)
}

// rawDial opens a heartbeat stream to addr with conf and writes data; it
// reports whether the server closed the connection (or refused it).
func rawDial(t *testing.T, addr string, conf *tls.Config, data []byte) bool {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, conf)
	if err != nil {
		return true
	}
	defer conn.Close()
	_, _ = conn.Write(append([]byte{streamHeartbeats}, data...))
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	var b [1]byte
	_, err = conn.Read(b[:])
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return err != nil
}

func TestTransportRefusesUnauthenticatedPeers(t *testing.T) {
	pki := devPKI(t)
	_, b := pairOf(t, pki, 100, 100)
	frameA, err := EncodeHeartbeat(hbOf("vsm-a", 100))
	if err != nil {
		t.Fatal(err)
	}
	// A VEM's certificate of the same CA.
	vem, err := protocol.ClientTLS(files(pki, "hv1"), protocol.KindVEM, protocol.KindVSM)
	if err != nil {
		t.Fatal(err)
	}
	if !rawDial(t, b.ctl.Addr().String(), vem, frameA) {
		t.Error("a VEM certificate was not refused")
	}
	// A VSM of another CA.
	other := t.TempDir()
	if err := protocol.GenerateDevPKI(other, []string{"vsm-a"}, nil); err != nil {
		t.Fatal(err)
	}
	foreign, err := protocol.ClientTLS(files(other, "vsm-a"), protocol.KindVSM, protocol.KindVSM)
	if err != nil {
		t.Fatal(err)
	}
	foreign.InsecureSkipVerify, foreign.VerifyConnection = true, nil // it would not trust b either
	if !rawDial(t, b.ctl.Addr().String(), foreign, frameA) {
		t.Error("a certificate of another CA was not refused")
	}
	// No client certificate at all.
	if !rawDial(t, b.ctl.Addr().String(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}, frameA) {
		t.Error("a client without a certificate was not refused")
	}
	// Not TLS.
	if c, err := net.Dial("tcp", b.mgt.Addr().String()); err == nil {
		_, _ = c.Write(append([]byte{streamHeartbeats}, frameA...))
		_ = c.Close()
	}
	expectNone(t, b, 300*time.Millisecond)
}

func TestTransportClosesOnMalformedFrames(t *testing.T) {
	pki := devPKI(t)
	_, b := pairOf(t, pki, 100, 100)
	conf, err := protocol.ClientTLS(files(pki, "vsm-a"), protocol.KindVSM, protocol.KindVSM)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"oversized frame": {0xff, 0xff},
		"empty frame":     {0, 0},
		"garbage":         {0, 5, 'h', 'e', 'l', 'l', 'o'},
	} {
		if !rawDial(t, b.ctl.Addr().String(), conf, data) {
			t.Errorf("%s: the connection stayed open", name)
		}
	}
	expectNone(t, b, 100*time.Millisecond)
}
