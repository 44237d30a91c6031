package api

import (
	"bytes"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// FuzzHandoverRecv feeds a handover session arbitrary bytes, as a peer
// on the agent's socket could send them: Recv returns requests or an
// error, never panics nor blocks once the peer has closed, and reads no
// more than its 1 MiB bound.
func FuzzHandoverRecv(f *testing.F) {
	for _, s := range []string{
		`{"op":"spawn","binary":"/usr/lib/vem/1.1.0/vem-agent","timeoutMs":30000,"stableMs":30000}`,
		`{"op":"prepare"}` + "\n" + `{"op":"switch"}`,
		`{"op":"commit"}{"op":"abort"}`,
		`{"op":7}`, `{"op":"spawn","timeoutMs":1e400}`, `[`, `{"op":"` + string(bytes.Repeat([]byte("x"), 100)) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		agent, peer := net.Pipe()
		defer agent.Close()
		go func() {
			peer.Write(data)
			peer.Close()
		}()
		s := NewHandoverSession(agent, agent)
		for range len(data) + 1 { // each request consumes at least one byte
			req, err := s.Recv(5 * time.Second)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Recv blocked after the peer closed: %v", err)
			}
			if err != nil {
				return // io.EOF, or the decoder's error naming the problem
			}
			_ = req.Op
		}
		t.Fatalf("more requests than bytes in %q", data)
	})
}
