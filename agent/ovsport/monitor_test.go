package ovsport

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"
)

// serverSide reads and writes JSON-RPC messages on the server end of a
// pipe.
type serverSide struct {
	t   *testing.T
	dec *json.Decoder
	c   net.Conn
}

func (s *serverSide) read() map[string]json.RawMessage {
	s.t.Helper()
	var m map[string]json.RawMessage
	if err := s.dec.Decode(&m); err != nil {
		s.t.Errorf("server read: %v", err)
	}
	return m
}

func (s *serverSide) write(msg string) {
	s.t.Helper()
	if _, err := s.c.Write([]byte(msg + "\n")); err != nil {
		s.t.Errorf("server write: %v", err)
	}
}

// The monitor asks for the Interface table's name and external_ids,
// answers the server's echo (its inactivity probe) on the way, takes the
// reply as the whole table and then the updates of its own monitor.
func TestMonitorProtocol(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	srv := &serverSide{t: t, dec: json.NewDecoder(bufio.NewReader(server)), c: server}
	done := make(chan struct{})
	go func() {
		defer close(done)
		req := srv.read()
		if string(req["method"]) != `"monitor"` || !strings.Contains(string(req["params"]), `"Interface":{"columns":["name","external_ids"]}`) ||
			!strings.HasPrefix(string(req["params"]), `["Open_vSwitch","vem-ovsport"`) {
			t.Errorf("monitor request %s %s", req["method"], req["params"])
		}
		srv.write(`{"id":"echo","method":"echo","params":["probe"]}`)
		echo := srv.read()
		if string(echo["id"]) != `"echo"` || string(echo["result"]) != `["probe"]` || string(echo["error"]) != "null" {
			t.Errorf("echo reply %v", echo)
		}
		srv.write(`{"id":"vem-ovsport","error":null,"result":{"Interface":{"u1":{"new":{"name":"tap1","external_ids":["map",[["iface-id","i1"]]]}},"u2":{"new":{"name":"tap2","external_ids":["set",[]]}}}}}`)
		srv.write(`{"id":null,"method":"update","params":["someone-else",{"Interface":{"u9":{"new":{"name":"x","external_ids":["map",[]]}}}}]}`)
		srv.write(`{"id":null,"method":"update","params":["vem-ovsport",{"Interface":{"u1":{"old":{"name":"tap1"}}}}]}`)
		srv.write(`{"id":null,"method":"update","params":["vem-ovsport",{"Interface":{"u3":{"new":{"name":"tap3","external_ids":["map",[["iface-id","i3"]]]}}}}]}`)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, first, err := startMonitor(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Full || len(first.Rows) != 2 {
		t.Fatalf("first update %+v", first)
	}
	for _, r := range first.Rows {
		switch r.UUID {
		case "u1":
			if r.Name != "tap1" || r.ExternalIDs[KeyIfaceID] != "i1" || r.Bad != nil {
				t.Errorf("u1 = %+v", r)
			}
		case "u2":
			if r.Bad == nil || !strings.Contains(r.Bad.Error(), "not an OVSDB map") {
				t.Errorf("u2 = %+v, want it held with its error", r)
			}
		}
	}
	u, err := m.next()
	if err != nil || len(u.Deleted) != 1 || u.Deleted[0] != "u1" || u.Full {
		t.Fatalf("second update %+v, %v (the other monitor's must be skipped)", u, err)
	}
	u, err = m.next()
	if err != nil || len(u.Rows) != 1 || u.Rows[0].Name != "tap3" {
		t.Fatalf("third update %+v, %v", u, err)
	}
	<-done
	server.Close()
	if _, err := m.next(); err == nil {
		t.Fatal("no error after the server closed")
	}
}

func TestMonitorRefused(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	srv := &serverSide{t: t, dec: json.NewDecoder(bufio.NewReader(server)), c: server}
	go func() {
		srv.read()
		srv.write(`{"id":"vem-ovsport","error":"unknown database","details":"get_schema: Open_vSwitch","result":null}`)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := startMonitor(ctx, client); err == nil || !strings.Contains(err.Error(), "monitor refused") {
		t.Fatalf("error %v, want the refusal", err)
	}
}

// A server that never answers: the context ends the wait.
func TestMonitorStartTimesOut(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	go func() {
		dec := json.NewDecoder(server)
		var m any
		for dec.Decode(&m) == nil {
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := startMonitor(ctx, client); err == nil {
		t.Fatal("no error from a silent server")
	}
}
