package agent

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// TestSDNotify sends a state to a notification socket as systemd sets it
// up ($NOTIFY_SOCKET, a datagram socket), and nothing without one.
func TestSDNotify(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := sdNotify("MAINPID=1"); sent || err != nil {
		t.Fatalf("without a socket: sent %v, %v", sent, err)
	}
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	if sent, err := sdNotify("MAINPID=4242"); !sent || err != nil {
		t.Fatalf("sent %v, %v", sent, err)
	}
	buf := make([]byte, 64)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "MAINPID=4242" {
		t.Fatalf("systemd got %q, %v", buf[:n], err)
	}
}

// TestSuccessorPipe: the old agent's end and the successor's exchange
// ops and states over the socket pair, and a closed end is EOF.
func TestSuccessorPipe(t *testing.T) {
	mine, theirs, err := newPipePair()
	if err != nil {
		t.Fatal(err)
	}
	succ, err := pipeOf(theirs)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = succ.send(pipeMsg{State: successorReady, Detail: "checked"})
		m, _ := succ.recv()
		_ = succ.send(pipeMsg{State: successorRunning, Detail: "took over after " + m.Op})
		succ.close()
	}()
	if m, err := mine.recv(); err != nil || m.State != successorReady || m.Detail != "checked" {
		t.Fatalf("ready: %+v, %v", m, err)
	}
	if err := mine.send(pipeMsg{Op: takeoverGo}); err != nil {
		t.Fatal(err)
	}
	if m, err := mine.recv(); err != nil || m.State != successorRunning || m.Detail != "took over after takeover" {
		t.Fatalf("running: %+v, %v", m, err)
	}
	if _, err := mine.recv(); err == nil {
		t.Fatal("no EOF once the successor closed its end")
	}
}
