package ovsport

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeDB is the OVSDB edge: an Interface table, sessions that see it
// whole at first and every change after, and marks written into it as
// ovsdb-server would (the session sees its own write come back).
type fakeDB struct {
	mu     sync.Mutex
	rows   map[string]*Row
	down   bool
	sess   *fakeSession
	dials  int
	writes []string // "iface=true|false"
	// failWrites makes SetInstalled fail.
	failWrites bool
}

func newFakeDB(rows ...*Row) *fakeDB {
	db := &fakeDB{rows: map[string]*Row{}}
	for _, r := range rows {
		db.rows[r.UUID] = r
	}
	return db
}

func (db *fakeDB) Dial(ctx context.Context) (Session, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.dials++
	if db.down {
		return nil, errors.New("connect: no such file or directory")
	}
	s := &fakeSession{db: db, updates: make(chan *Update, 64), closed: make(chan struct{})}
	s.updates <- &Update{Full: true, Rows: db.cloneRows()}
	db.sess = s
	return s, nil
}

func (db *fakeDB) cloneRows() []*Row {
	var out []*Row
	for _, r := range db.rows {
		out = append(out, &Row{UUID: r.UUID, Name: r.Name, ExternalIDs: maps.Clone(r.ExternalIDs), Bad: r.Bad})
	}
	return out
}

// set inserts or replaces a row and tells the session.
func (db *fakeDB) set(r *Row) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.rows[r.UUID] = r
	db.notify(&Update{Rows: []*Row{{UUID: r.UUID, Name: r.Name, ExternalIDs: maps.Clone(r.ExternalIDs)}}})
}

func (db *fakeDB) del(uuid string) {
	db.mu.Lock()
	defer db.mu.Unlock()
	delete(db.rows, uuid)
	db.notify(&Update{Deleted: []string{uuid}})
}

func (db *fakeDB) notify(u *Update) {
	if db.sess != nil && !db.down {
		db.sess.updates <- u
	}
}

// restart ends the session; the server is down until up.
func (db *fakeDB) stop() {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.down = true
	if db.sess != nil {
		db.sess.end()
		db.sess = nil
	}
}

func (db *fakeDB) up() {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.down = false
}

func (db *fakeDB) installed(uuid string) string {
	db.mu.Lock()
	defer db.mu.Unlock()
	if r := db.rows[uuid]; r != nil {
		return r.ExternalIDs[KeyInstalled]
	}
	return "<gone>"
}

func (db *fakeDB) writesFor(iface string) []string {
	db.mu.Lock()
	defer db.mu.Unlock()
	var out []string
	for _, w := range db.writes {
		if len(w) > len(iface) && w[:len(iface)+1] == iface+"=" {
			out = append(out, w)
		}
	}
	return out
}

type fakeSession struct {
	db      *fakeDB
	updates chan *Update
	closed  chan struct{}
	once    sync.Once
}

func (s *fakeSession) end() { s.once.Do(func() { close(s.closed) }) }

func (s *fakeSession) Next() (*Update, error) {
	select {
	case u := <-s.updates:
		return u, nil
	case <-s.closed:
		return nil, errors.New("EOF")
	}
}

func (s *fakeSession) Close() error { s.end(); return nil }

func (s *fakeSession) SetInstalled(_ context.Context, iface string, on bool) error {
	db := s.db
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.failWrites {
		return errors.New("transaction failed")
	}
	for _, r := range db.rows {
		if r.Name != iface {
			continue
		}
		ids := maps.Clone(r.ExternalIDs)
		if on {
			ids[KeyInstalled] = "true"
		} else {
			delete(ids, KeyInstalled)
		}
		nr := &Row{UUID: r.UUID, Name: r.Name, ExternalIDs: ids}
		db.rows[r.UUID] = nr
		db.writes = append(db.writes, iface+"="+map[bool]string{true: "true", false: "false"}[on])
		db.notify(&Update{Rows: []*Row{{UUID: nr.UUID, Name: nr.Name, ExternalIDs: maps.Clone(ids)}}})
		return nil
	}
	return errors.New("the interface is gone")
}

// fakeAgent takes every port but those it is told to refuse; the ports
// it holds forward unless told otherwise.
type fakeAgent struct {
	mu      sync.Mutex
	ports   []Port
	calls   int
	refuse  map[string]error
	fail    int // fail this many calls (not the ports' fault)
	down    map[string]bool
	changed chan struct{}
}

func newFakeAgent() *fakeAgent {
	return &fakeAgent{refuse: map[string]error{}, down: map[string]bool{}, changed: make(chan struct{}, 64)}
}

func (a *fakeAgent) SetPorts(_ context.Context, ports []Port) (map[string]error, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	if a.fail > 0 {
		a.fail--
		return nil, errors.New("write datapath: device busy")
	}
	refused := map[string]error{}
	a.ports = nil
	for _, p := range ports {
		if err, ok := a.refuse[p.Interface]; ok {
			refused[p.Interface] = err
			continue
		}
		a.ports = append(a.ports, p)
	}
	select {
	case a.changed <- struct{}{}:
	default:
	}
	return refused, nil
}

func (a *fakeAgent) Forwarding() map[string]bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	fw := map[string]bool{}
	for _, p := range a.ports {
		if !a.down[p.Interface] {
			fw[p.Interface] = true
		}
	}
	return fw
}

func (a *fakeAgent) interfaces() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, p := range a.ports {
		out = append(out, p.Interface)
	}
	slices.Sort(out)
	return out
}

func (a *fakeAgent) callCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
