package ovsport

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"go.uber.org/zap"
)

// Agent is what the source needs of the agent.
type Agent interface {
	// SetPorts replaces the source's ports with ports, a whole snapshot.
	// refused names (by interface) the ports the agent refused and why;
	// the others are applied. err is a failure to apply that is not the
	// ports' fault: the source hands the snapshot again later.
	SetPorts(ctx context.Context, ports []Port) (refused map[string]error, err error)
	// Forwarding reports the interfaces of the source's ports that
	// forward now.
	Forwarding() map[string]bool
}

// Config is how a Source runs. Zero durations take their defaults.
type Config struct {
	Dialer   Dialer
	Agent    Agent
	Defaults Defaults
	Log      *zap.Logger
	// MinBackoff and MaxBackoff bound the wait between connection
	// attempts (default 250 ms, doubling up to 10 s).
	MinBackoff, MaxBackoff time.Duration
	// Recheck is how often the marks are compared with what forwards
	// and a failed snapshot is handed again (default 1 s).
	Recheck time.Duration
	// WriteTimeout bounds each mark's transaction (default 5 s).
	WriteTimeout time.Duration
}

func (c *Config) defaults() {
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.MinBackoff, 250*time.Millisecond)
	def(&c.MaxBackoff, 10*time.Second)
	def(&c.Recheck, time.Second)
	def(&c.WriteTimeout, 5*time.Second)
}

// Source follows the Interface table and keeps the agent's OVS ports and
// the marks in step with it.
type Source struct {
	cfg Config
	log *zap.Logger

	rows map[string]*Row // the table, by UUID
	// sent is the snapshot last handed to the agent, nil before any;
	// resend asks for it to be handed again (the agent failed).
	sent   []Port
	resend bool
	// byAgent are the ports of sent the agent refused, by interface.
	byAgent map[string]error
	// accepted are the UUIDs of rows whose port the agent took.
	accepted map[string]bool
	// reasons are the refusals last logged, by UUID, so each is logged
	// once until it changes.
	reasons map[string]string
}

// New returns a source; Run runs it.
func New(cfg Config) *Source {
	cfg.defaults()
	return &Source{cfg: cfg, log: cfg.Log, reasons: map[string]string{}, accepted: map[string]bool{}}
}

// Run connects, follows the table and reconnects with backoff until ctx
// ends. While it is disconnected the ports stay as they are.
func (s *Source) Run(ctx context.Context) error {
	backoff := s.cfg.MinBackoff
	lost := false
	for ctx.Err() == nil {
		sess, err := s.cfg.Dialer.Dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if !lost {
				s.log.Warn("ovsdb-server unreachable; the OVS ports stay as they are, retrying", zap.Error(err))
				lost = true
			}
			if !sleep(ctx, backoff) {
				break
			}
			backoff = min(2*backoff, s.cfg.MaxBackoff)
			continue
		}
		backoff, lost = s.cfg.MinBackoff, false
		err = s.follow(ctx, sess)
		sess.Close()
		if ctx.Err() != nil {
			break
		}
		s.log.Warn("ovsdb-server connection lost; the OVS ports stay as they are, reconnecting", zap.Error(err))
		lost = true
		if !sleep(ctx, backoff) {
			break
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// follow runs one session: its first update replaces the table (a full
// resync), the others change it; every change hands the agent a new
// snapshot and brings the marks in step.
func (s *Source) follow(ctx context.Context, sess Session) error {
	updates := make(chan *Update)
	done := make(chan error, 1)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel() // the reader goes with the session
	go func() {
		for {
			u, err := sess.Next()
			if err != nil {
				done <- err
				return
			}
			select {
			case updates <- u:
			case <-sctx.Done():
				done <- sctx.Err()
				return
			}
		}
	}()
	tick := time.NewTicker(s.cfg.Recheck)
	defer tick.Stop()
	first := true
	for {
		select {
		case <-ctx.Done():
			sess.Close()
			<-done
			return ctx.Err()
		case err := <-done:
			return err
		case u := <-updates:
			if first && !u.Full {
				return errors.New("the session's first update is not the whole table")
			}
			if first {
				s.log.Info("ovsdb-server connected: resynchronising the OVS ports", zap.Int("interfaces", len(u.Rows)))
				first = false
			}
			s.apply(u)
			s.publish(ctx)
			s.mark(ctx, sess)
		case <-tick.C:
			if first {
				continue // the table is the last session's until its first update
			}
			if s.resend {
				s.publish(ctx)
			}
			s.mark(ctx, sess)
		}
	}
}

// apply changes the table by u.
func (s *Source) apply(u *Update) {
	if u.Full {
		s.rows = map[string]*Row{}
	}
	for _, uuid := range u.Deleted {
		delete(s.rows, uuid)
	}
	for _, r := range u.Rows {
		s.rows[r.UUID] = r
	}
}

// Snapshot decodes the table's rows into ports: vem's rows that can be
// bound, sorted by interface. refused are vem's rows that cannot, with
// why (ErrInactive for an inactive one), by UUID. Two rows with one MAC
// or one iface-id are refused but for the first by name, as the hook
// refuses two interfaces with one MAC.
func Snapshot(rows map[string]*Row, def Defaults) (ports []Port, refused map[string]error) {
	refused = map[string]error{}
	list := slices.Collect(maps.Values(rows))
	sort.Slice(list, func(i, j int) bool {
		if list[i].Name != list[j].Name {
			return list[i].Name < list[j].Name
		}
		return list[i].UUID < list[j].UUID
	})
	byMAC, byID := map[string]string{}, map[string]string{}
	for _, r := range list {
		p, ok, err := Decode(r, def)
		if !ok {
			continue
		}
		if err == nil {
			if first, dup := byMAC[p.MAC]; dup {
				err = fmt.Errorf("interface %s: attached-mac %s is also interface %s's", quote(r.Name), p.MAC, first)
			} else if first, dup := byID[p.InterfaceID]; dup {
				err = fmt.Errorf("interface %s: iface-id %s is also interface %s's", quote(r.Name), quote(p.InterfaceID), first)
			}
		}
		if err != nil {
			refused[r.UUID] = err
			continue
		}
		byMAC[p.MAC], byID[p.InterfaceID] = r.Name, r.Name
		ports = append(ports, p)
	}
	return ports, refused
}

// publish hands the agent the table's snapshot when it changed (or the
// last one failed) and logs each refusal once.
func (s *Source) publish(ctx context.Context) {
	ports, refused := Snapshot(s.rows, s.cfg.Defaults)
	if s.sent == nil || s.resend || !slices.EqualFunc(ports, s.sent, portEqual) {
		byAgent, err := s.cfg.Agent.SetPorts(ctx, ports)
		if err != nil {
			s.log.Error("OVS ports not applied; retrying", zap.Int("ports", len(ports)), zap.Error(err))
			s.resend = true
			return
		}
		s.sent, s.resend, s.byAgent = ports, false, byAgent
	}
	s.accepted = map[string]bool{}
	for _, p := range ports {
		if err, ok := s.byAgent[p.Interface]; ok {
			refused[p.UUID] = fmt.Errorf("interface %s: refused by the agent: %w", quote(p.Interface), err)
			continue
		}
		s.accepted[p.UUID] = true
	}
	s.logRefusals(refused)
}

// logRefusals logs every refusal that is new or changed.
func (s *Source) logRefusals(refused map[string]error) {
	reasons := map[string]string{}
	for uuid, err := range refused {
		why := err.Error()
		reasons[uuid] = why
		if s.reasons[uuid] == why {
			continue
		}
		name := ""
		if r := s.rows[uuid]; r != nil {
			name = r.Name
		}
		if errors.Is(err, ErrInactive) {
			s.log.Info("OVS interface inactive: not bound", zap.String("interface", name))
		} else {
			s.log.Warn("OVS interface refused", zap.String("interface", name), zap.String("uuid", uuid), zap.Error(err))
		}
	}
	s.reasons = reasons
}

// mark brings ovn-installed in step with what forwards: set on the rows
// whose port the agent took and forwards, removed from every other row
// of vem's that carries it. Rows that are not vem's are never written.
func (s *Source) mark(ctx context.Context, sess Session) {
	fw := s.cfg.Agent.Forwarding()
	for _, r := range s.rows {
		if r.Bad != nil {
			continue
		}
		if _, ours := r.ExternalIDs[KeyIfaceID]; !ours {
			continue
		}
		want := s.accepted[r.UUID] && fw[r.Name]
		if want == r.Installed() {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
		err := sess.SetInstalled(wctx, r.Name, want)
		cancel()
		if err != nil {
			s.log.Warn("OVS mark not written", zap.String("interface", r.Name), zap.Bool("installed", want), zap.Error(err))
			continue
		}
		// The monitor's update will say so too; until it comes, do not
		// write again.
		ids := maps.Clone(r.ExternalIDs)
		if want {
			ids[KeyInstalled] = "true"
		} else {
			delete(ids, KeyInstalled)
		}
		s.rows[r.UUID] = &Row{UUID: r.UUID, Name: r.Name, ExternalIDs: ids}
		s.log.Info("OVS interface marked", zap.String("interface", r.Name), zap.Bool(KeyInstalled, want))
	}
}

// portEqual compares two ports field by field.
func portEqual(a, b Port) bool {
	return a.UUID == b.UUID && a.VM == b.VM && a.Interface == b.Interface && a.MAC == b.MAC &&
		a.InterfaceID == b.InterfaceID && a.Segment == b.Segment && a.Profile == b.Profile &&
		slices.Equal(a.IPs, b.IPs)
}
