package ovsport

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Database is the Open vSwitch database's name in ovsdb-server.
const Database = "Open_vSwitch"

// monitorID names the source's monitor and its request.
const monitorID = "vem-ovsport"

// Update is a change of the Interface table: the rows inserted or
// modified (their whole new value) and the UUIDs of the rows deleted.
// The first Update of a session is the whole table (Full).
type Update struct {
	Full    bool
	Rows    []*Row
	Deleted []string
}

// message is a JSON-RPC 1.0 message as OVSDB uses it: a request or
// notification (method, params, id) or a reply (result, error, id).
type message struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  json.RawMessage `json:"error,omitempty"`
}

// monitor is a connection to ovsdb-server that monitors the Interface
// table: it sends the monitor request, answers the server's echo
// requests (its inactivity probe) and decodes the updates.
type monitor struct {
	conn net.Conn
	dec  *json.Decoder
	w    *bufio.Writer
	mu   sync.Mutex // serialises writes
}

// startMonitor sends the monitor request on conn and returns the whole
// table as the reply holds it.
func startMonitor(ctx context.Context, conn net.Conn) (*monitor, *Update, error) {
	m := &monitor{conn: conn, dec: json.NewDecoder(bufio.NewReader(conn)), w: bufio.NewWriter(conn)}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	req := map[string]any{
		"id":     monitorID,
		"method": "monitor",
		"params": []any{Database, monitorID, map[string]any{
			"Interface": map[string]any{"columns": []string{"name", "external_ids"}},
		}},
	}
	if err := m.send(req); err != nil {
		return nil, nil, fmt.Errorf("monitor request: %w", err)
	}
	for {
		msg, err := m.read()
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return nil, nil, fmt.Errorf("monitor reply: %w", err)
		}
		if msg.Method != "" {
			if err := m.answer(msg); err != nil {
				return nil, nil, err
			}
			continue
		}
		var id string
		if json.Unmarshal(msg.ID, &id) != nil || id != monitorID {
			continue // a reply to nothing we sent
		}
		if len(msg.Error) > 0 && string(msg.Error) != "null" {
			return nil, nil, fmt.Errorf("monitor refused: %s", clip(string(msg.Error)))
		}
		u, err := decodeUpdate(msg.Result)
		if err != nil {
			return nil, nil, fmt.Errorf("monitor reply: %w", err)
		}
		u.Full = true
		return m, u, nil
	}
}

// next reads up to the next update of the table, answering echo
// requests on the way; it returns the connection's error when it ends.
func (m *monitor) next() (*Update, error) {
	for {
		msg, err := m.read()
		if err != nil {
			return nil, err
		}
		switch msg.Method {
		case "":
			continue // a reply (to an echo of ours: none are sent)
		case "update":
			var params []json.RawMessage
			if err := json.Unmarshal(msg.Params, &params); err != nil || len(params) != 2 {
				return nil, errors.New("update notification: params are not [monitor-id, table-updates]")
			}
			var id string
			if json.Unmarshal(params[0], &id) != nil || id != monitorID {
				continue
			}
			return decodeUpdate(params[1])
		default:
			if err := m.answer(msg); err != nil {
				return nil, err
			}
		}
	}
}

// answer replies to a request of the server: echo is answered with its
// params (RFC 7047 4.1.11), anything else with an error.
func (m *monitor) answer(msg *message) error {
	if len(msg.ID) == 0 || string(msg.ID) == "null" {
		return nil // a notification we do not follow
	}
	reply := map[string]any{"id": msg.ID, "result": nil, "error": nil}
	if msg.Method == "echo" {
		params := msg.Params
		if len(params) == 0 {
			params = json.RawMessage("[]")
		}
		reply["result"] = params
	} else {
		reply["error"] = "unknown method"
	}
	return m.send(reply)
}

func (m *monitor) send(v any) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := json.NewEncoder(m.w).Encode(v); err != nil {
		return err
	}
	return m.w.Flush()
}

func (m *monitor) read() (*message, error) {
	var msg message
	if err := m.dec.Decode(&msg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, err
	}
	return &msg, nil
}

func (m *monitor) close() error { return m.conn.Close() }

// decodeUpdate decodes table-updates (RFC 7047 4.1.6): for the Interface
// table, each row's UUID with its new value, or none when deleted.
func decodeUpdate(data json.RawMessage) (*Update, error) {
	var tables map[string]map[string]struct {
		New json.RawMessage `json:"new"`
	}
	if err := json.Unmarshal(data, &tables); err != nil {
		return nil, fmt.Errorf("table-updates: %w", err)
	}
	u := &Update{}
	for uuid, ch := range tables["Interface"] {
		if len(ch.New) == 0 || string(ch.New) == "null" {
			u.Deleted = append(u.Deleted, uuid)
			continue
		}
		r, err := DecodeRow(uuid, ch.New)
		if err != nil {
			// One row others wrote cannot stop the others: it is
			// kept with its error, refused, and never written.
			r = &Row{UUID: uuid, Bad: err}
		}
		u.Rows = append(u.Rows, r)
	}
	return u, nil
}
