package hostcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/vem-switch/vem/spec"
)

// ovsdb checks, when the file turns the Open vSwitch port source on, that
// its database answers OVSDB (RFC 7047 list_dbs) and holds Open_vSwitch.
// Without it no OVS-plugged interface becomes a port: a failure, as the
// file asks for the source. The agent itself starts anyway and keeps
// reconnecting.
func (h Host) ovsdb(ctx context.Context, sw *spec.Switch, path string) []Result {
	const item = "ovsdb"
	if sw == nil || sw.OVS == nil {
		return nil
	}
	const fix = "start Open vSwitch's ovsdb-server (systemctl enable --now openvswitch-switch), or correct ovs.database"
	db := sw.OVS.Database
	network, addr, err := spec.SplitOVSDatabase(db)
	if err != nil {
		return []Result{bad(item, Fail, "correct ovs.database in "+path, "ovs.database: %v", err)}
	}
	if network == "unix" {
		if err := h.Exists(addr); err != nil {
			return []Result{bad(item, Fail, fix, "no socket %s (ovs.database %s): no Open vSwitch interface becomes a port", addr, db)}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	dbs, err := h.listDBs(ctx, network, addr)
	if err != nil {
		return []Result{bad(item, Fail, fix, "%s does not answer OVSDB: %v", db, err)}
	}
	if !slices.Contains(dbs, "Open_vSwitch") {
		return []Result{bad(item, Fail, fix, "%s serves %v, not Open_vSwitch", db, dbs)}
	}
	return []Result{ok(item, "%s serves Open_vSwitch", db)}
}

// listDBs asks an OVSDB server for its databases.
func (h Host) listDBs(ctx context.Context, network, addr string) ([]string, error) {
	c, err := h.Dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(h.Timeout)
	}
	c.SetDeadline(deadline)
	if err := json.NewEncoder(c).Encode(map[string]any{"method": "list_dbs", "params": []any{}, "id": 0}); err != nil {
		return nil, fmt.Errorf("send list_dbs: %w", err)
	}
	var resp struct {
		Result []string        `json:"result"`
		Error  json.RawMessage `json:"error"`
		ID     json.RawMessage `json:"id"`
	}
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return nil, fmt.Errorf("read list_dbs: %w", err)
	}
	if len(resp.Error) > 0 && string(resp.Error) != "null" {
		return nil, fmt.Errorf("list_dbs refused: %s", resp.Error)
	}
	return resp.Result, nil
}
