package ovsport

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"

	"github.com/digitalocean/go-openvswitch/ovsdb"
)

// Session is one connection to ovsdb-server: the monitor of the
// Interface table and the writes of the marks.
type Session interface {
	// Next returns the next change of the table; the first is the whole
	// table (Full). It returns an error when the session has ended.
	Next() (*Update, error)
	// SetInstalled sets (on) or removes ovn-installed on the Interface
	// row named iface, as ovn-controller does.
	SetInstalled(ctx context.Context, iface string, on bool) error
	// Close ends the session; a Next in progress returns.
	Close() error
}

// Dialer opens sessions.
type Dialer interface {
	Dial(ctx context.Context) (Session, error)
}

// NetDialer dials ovsdb-server at a network address (as
// spec.SplitOVSDatabase gives it).
type NetDialer struct {
	Network, Address string
	// EchoInterval keeps the writing connection busy so a TCP server's
	// inactivity probe never closes it; 0 for the default of 2 s.
	EchoInterval time.Duration
}

// Dial connects, starts the monitor and returns the session with the
// whole table as its first update.
func (d NetDialer) Dial(ctx context.Context) (Session, error) {
	var nd net.Dialer
	mc, err := nd.DialContext(ctx, d.Network, d.Address)
	if err != nil {
		return nil, fmt.Errorf("connect to ovsdb-server: %w", err)
	}
	m, first, err := startMonitor(ctx, mc)
	if err != nil {
		mc.Close()
		return nil, err
	}
	wc, err := nd.DialContext(ctx, d.Network, d.Address)
	if err != nil {
		mc.Close()
		return nil, fmt.Errorf("connect to ovsdb-server: %w", err)
	}
	echo := d.EchoInterval
	if echo <= 0 {
		echo = 2 * time.Second
	}
	c, err := ovsdb.New(wc, ovsdb.EchoInterval(echo))
	if err != nil {
		mc.Close()
		wc.Close()
		return nil, fmt.Errorf("ovsdb client: %w", err)
	}
	return &netSession{mon: m, db: c, first: first}, nil
}

// netSession is a Session over two connections: the monitor's, and the
// go-openvswitch client's for the transactions.
type netSession struct {
	mon   *monitor
	db    *ovsdb.Client
	first *Update
}

func (s *netSession) Next() (*Update, error) {
	if u := s.first; u != nil {
		s.first = nil
		return u, nil
	}
	return s.mon.next()
}

func (s *netSession) Close() error {
	err := s.mon.close()
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// SetInstalled writes the mark in one transaction: the key deleted, then
// inserted when on (a map insert keeps an existing key's value), then the
// row read back. The client reports no error of an operation (only of
// the call), so the read-back is what proves the write: a transaction
// that failed returns no row.
func (s *netSession) SetInstalled(ctx context.Context, iface string, on bool) error {
	where := []ovsdb.Cond{ovsdb.Equal("name", iface)}
	ops := []ovsdb.TransactOp{mutate{table: "Interface", where: where, column: "external_ids", mutator: "delete",
		value: []any{"set", []any{KeyInstalled}}}}
	if on {
		ops = append(ops, mutate{table: "Interface", where: where, column: "external_ids", mutator: "insert",
			value: []any{"map", [][]string{{KeyInstalled, "true"}}}})
	}
	ops = append(ops, ovsdb.Select{Table: "Interface", Where: where})
	rows, err := s.db.Transact(ctx, Database, ops)
	if err != nil {
		return fmt.Errorf("set %s on %s: %w", KeyInstalled, iface, err)
	}
	if len(rows) != 1 {
		return fmt.Errorf("set %s on %s: the transaction failed or the interface is gone", KeyInstalled, iface)
	}
	raw, err := json.Marshal(rows[0]["external_ids"])
	if err != nil {
		return fmt.Errorf("set %s on %s: %w", KeyInstalled, iface, err)
	}
	ids, err := decodeMap(raw)
	if err != nil {
		return fmt.Errorf("set %s on %s: read back: %w", KeyInstalled, iface, err)
	}
	if (ids[KeyInstalled] == "true") != on {
		return fmt.Errorf("set %s on %s: not written", KeyInstalled, iface)
	}
	return nil
}

// mutate is OVSDB's mutate operation (RFC 7047 5.2.4), which the
// go-openvswitch client carries as any TransactOp.
type mutate struct {
	table   string
	where   []ovsdb.Cond
	column  string
	mutator string
	value   any
}

func (m mutate) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{
		"op":        "mutate",
		"table":     m.table,
		"where":     m.where,
		"mutations": []any{[]any{m.column, m.mutator, m.value}},
	})
}
