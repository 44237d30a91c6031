package hostcheck

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// ovsFile is standalone with the Open vSwitch port source on.
const ovsFile = standalone + "ovs: {database: \"unix:/run/openvswitch/db.sock\"}\n"

// ovsdbAnswering is a Dial whose unix peer answers list_dbs with dbs (or
// with an OVSDB error when refuse is set), as ovsdb-server does.
func ovsdbAnswering(t *testing.T, dbs []string, refuse bool) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		a, b := net.Pipe()
		go func() {
			defer b.Close()
			var req struct {
				Method string `json:"method"`
				ID     any    `json:"id"`
			}
			if err := json.NewDecoder(b).Decode(&req); err != nil || req.Method != "list_dbs" {
				return
			}
			resp := map[string]any{"id": req.ID, "result": dbs, "error": nil}
			if refuse {
				resp = map[string]any{"id": req.ID, "result": nil, "error": "unknown method"}
			}
			json.NewEncoder(b).Encode(resp)
		}()
		return a, nil
	}
}

func TestOVSDB(t *testing.T) {
	tests := []struct {
		name   string
		cfg    string
		break_ func(*Host)
		status Status
		detail string
	}{
		{"answers", ovsFile, func(h *Host) { h.Dial = ovsdbAnswering(t, []string{"_Server", "Open_vSwitch"}, false) },
			OK, "serves Open_vSwitch"},
		{"no socket", ovsFile, func(h *Host) {
			h.Exists = func(p string) error {
				if p == "/run/openvswitch/db.sock" {
					return os.ErrNotExist
				}
				return nil
			}
			h.Dial = ovsdbAnswering(t, []string{"Open_vSwitch"}, false)
		}, Fail, "no socket /run/openvswitch/db.sock"},
		{"not answering", ovsFile, func(h *Host) {
			h.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
				if strings.Contains(addr, "openvswitch") {
					return nil, errors.New("connection refused")
				}
				return ovsdbAnswering(t, nil, false)(ctx, network, addr)
			}
		}, Fail, "does not answer OVSDB: connection refused"},
		{"silent peer", ovsFile, func(h *Host) {
			h.Timeout = 100 * time.Millisecond
			h.Dial = func(context.Context, string, string) (net.Conn, error) {
				a, b := net.Pipe()
				go func() { // reads, never answers, closes at the end
					buf := make([]byte, 512)
					for {
						if _, err := b.Read(buf); err != nil {
							return
						}
					}
				}()
				return a, nil
			}
		}, Fail, "does not answer OVSDB"},
		{"another database", ovsFile, func(h *Host) { h.Dial = ovsdbAnswering(t, []string{"OVN_Northbound"}, false) },
			Fail, "serves [OVN_Northbound], not Open_vSwitch"},
		{"refused", ovsFile, func(h *Host) { h.Dial = ovsdbAnswering(t, nil, true) },
			Fail, "list_dbs refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fakeHost()
			tt.break_(&h)
			rs := h.Run(context.Background(), parse(t, tt.cfg))
			r := find(t, rs, "ovsdb")
			if r.Status != tt.status || !strings.Contains(r.Detail, tt.detail) || (tt.status != OK) != (r.Fix != "") {
				t.Errorf("ovsdb = %+v, want %v with %q", r, tt.status, tt.detail)
			}
			if Failed(rs) != (tt.status == Fail) {
				t.Errorf("Failed() = %v with ovsdb %v", Failed(rs), tt.status)
			}
		})
	}
	// Without an ovs: section there is nothing to check.
	if _, ok := statuses(fakeHost().Run(context.Background(), parse(t, standalone)))["ovsdb"]; ok {
		t.Error("ovsdb checked without an ovs: section")
	}
}
