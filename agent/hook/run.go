package hook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/spec"
)

// Client is the part of the agent's API the hook uses; *api.Client is one.
type Client interface {
	Attach(ctx context.Context, p spec.Port) error
	// AttachIncoming attaches the port of a domain migrating (or being
	// restored) in, its MAC announced when the domain resumes here.
	AttachIncoming(ctx context.Context, p spec.Port) error
	Detach(ctx context.Context, iface string) error
	Segments(ctx context.Context) ([]api.Segment, error)
	Ports(ctx context.Context) ([]api.Port, error)
}

// AgentDown is what an operation that needs the agent does when the agent
// cannot be reached in time (no socket, nothing listening, or no answer
// before the timeout).
type AgentDown string

// The policies of AgentDown.
const (
	// AgentDownFail fails the operation, so libvirt does not start (or
	// migrate in, or restore) a VM whose ports would not forward. The
	// default.
	AgentDownFail AgentDown = "fail"
	// AgentDownContinue lets the VM start with its ports unattached and
	// says so on stderr; the agent catches up when it is back (libvirt
	// resync) or an operator attaches them.
	AgentDownContinue AgentDown = "continue"
)

// ParseAgentDown reads a policy name.
func ParseAgentDown(s string) (AgentDown, error) {
	switch p := AgentDown(s); p {
	case AgentDownFail, AgentDownContinue:
		return p, nil
	}
	return "", fmt.Errorf("agent-down policy %q: want %s or %s", s, AgentDownFail, AgentDownContinue)
}

// Action is what the hook does for an operation.
type Action int

// The actions.
const (
	// Ignore: nothing to do (started, unknown operations).
	Ignore Action = iota
	// Validate: check the definition; no agent call (prepare).
	Validate
	// Attach the ports (start), failing the start when one fails.
	Attach
	// Reattach the ports of a running domain (reconnect, attach): never
	// fails, since libvirt would kill the running domain.
	Reattach
	// Detach the ports (stopped, release).
	Detach
	// Prepare an incoming domain (migrate, restore): validate and check
	// that the agent is up and knows the segments. The ports are attached
	// at start, which libvirt runs on the destination next: the taps do
	// not exist before.
	Prepare
)

// ActionOf maps libvirt's operation and sub-operation to an Action.
func ActionOf(op, subOp string) Action {
	switch {
	case op == "prepare" && subOp == "begin":
		return Validate
	case op == "start" && subOp == "begin":
		return Attach
	case (op == "reconnect" || op == "attach") && subOp == "begin":
		return Reattach
	case (op == "stopped" || op == "release") && subOp == "end":
		return Detach
	case (op == "migrate" || op == "restore") && subOp == "begin":
		return Prepare
	}
	return Ignore
}

func (a Action) String() string {
	return [...]string{"ignore", "validate", "attach", "reattach", "detach", "prepare"}[a]
}

// Config is how Run behaves.
type Config struct {
	// Timeout bounds the agent calls of one invocation.
	Timeout time.Duration
	// OnAgentDown is the policy when the agent cannot be reached.
	OnAgentDown AgentDown
	// InterfaceGone reports whether no interface of that name exists
	// here (the hook runs in the agent's network namespace). It lets a
	// detach without a target dev take a port whose tap is gone before
	// the agent has noticed; nil relies on the agent's absent state only.
	InterfaceGone func(name string) bool
	// IncomingDir holds the markers of domains migrating or being
	// restored in (incoming.go); "" attaches every port as an ordinary
	// start (announced at once).
	IncomingDir string
}

// Result is the outcome of one invocation.
type Result struct {
	// Messages are one-line messages for stderr, each naming the domain
	// and, where it concerns one, the interface.
	Messages []string
	// Fail asks the hook to exit non-zero: libvirt aborts prepare, start,
	// migrate and restore on it and logs it for the others.
	Fail bool
	// Attached and Detached list the interfaces the invocation attached
	// and detached.
	Attached, Detached []string
}

func (r *Result) addf(format string, args ...any) {
	r.Messages = append(r.Messages, oneLine(fmt.Sprintf(format, args...)))
}

// Run does what the operation asks for the domain of the XML data.
// newClient is called only when a vem port needs the agent, so a domain
// without vem ports never contacts it.
func Run(ctx context.Context, domain, op, subOp string, data []byte, cfg Config, newClient func() Client) Result {
	var res Result
	act := ActionOf(op, subOp)
	if act == Ignore {
		return res
	}
	who := "domain " + quoteName(domain)
	d, err := ParseDomain(data)
	if err != nil {
		res.addf("vem-hook: %s: %s %s: %v", who, op, subOp, err)
		res.Fail = true
		return res
	}
	if d.Name != "" && d.Name != domain {
		res.addf("vem-hook: %s: %s %s: the domain XML names domain %s", who, op, subOp, quoteName(d.Name))
		res.Fail = true
		return res
	}
	for _, u := range d.Unmatched {
		res.addf("vem-hook: %s: %s %s: %s matches no interface of the domain: ignored", who, op, subOp, u)
	}
	if len(d.Ports) == 0 {
		return res
	}
	switch act {
	case Validate:
		res.checkPorts(who, d.Ports, false)
	case Prepare:
		if res.checkPorts(who, d.Ports, false) {
			res.prepare(ctx, who, op, d.Ports, cfg, newClient())
		}
		if !res.Fail && cfg.IncomingDir != "" {
			if err := markIncoming(cfg.IncomingDir, d.UUID); err != nil {
				// Not fatal: the ports are then announced at start.
				res.addf("vem-hook: %s: %s %s: %v (its ports will be announced at start, not when it resumes here)", who, op, subOp, err)
			}
		}
	case Attach:
		incoming := cfg.IncomingDir != "" && takeIncoming(cfg.IncomingDir, d.UUID, time.Now())
		if res.checkPorts(who, d.Ports, true) {
			res.attach(ctx, who, d.Ports, cfg, newClient(), incoming)
		}
	case Reattach:
		res.reattach(ctx, who, d.Ports, cfg, newClient())
	case Detach:
		if cfg.IncomingDir != "" {
			dropIncoming(cfg.IncomingDir, d.UUID)
		}
		res.detach(ctx, who, d.Ports, cfg, newClient())
	}
	return res
}

// checkPorts reports every port's problems and reports whether there
// were none.
func (r *Result) checkPorts(who string, ps []Port, needTarget bool) bool {
	ok := true
	for _, p := range ps {
		if err := p.Check(needTarget); err != nil {
			r.addf("vem-hook: %s: interface %s: %v", who, p.Name(), err)
			ok = false
		}
	}
	if !ok {
		r.Fail = true
	}
	return ok
}

// unreachable reports whether err means the agent could not be reached
// (as opposed to an answer refusing the request).
func unreachable(err error) bool {
	// Every answer of the agent is an *api.Error; anything else failed
	// on the way: no socket, nobody listening, the connection, the
	// deadline.
	var ae *api.Error
	return !errors.As(err, &ae)
}

// down handles an unreachable agent for an operation that needs it.
func (r *Result) down(who, iface, what string, err error, cfg Config) {
	if cfg.OnAgentDown == AgentDownContinue {
		r.addf("vem-hook: %s: interface %s: %s: %v (agent-down policy continue: the VM goes on without this port)", who, iface, what, err)
		return
	}
	r.addf("vem-hook: %s: interface %s: %s: %v (agent-down policy fail)", who, iface, what, err)
	r.Fail = true
}

// attach attaches the ports; incoming ones (a domain migrating or being
// restored in) have their MAC announced when the domain resumes here.
func (r *Result) attach(ctx context.Context, who string, ps []Port, cfg Config, c Client, incoming bool) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	for i, p := range ps {
		var err error
		if incoming {
			err = c.AttachIncoming(ctx, p.Request())
		} else {
			err = c.Attach(ctx, p.Request())
		}
		if err == nil {
			r.Attached = append(r.Attached, p.Interface)
			continue
		}
		err = timeoutErr(ctx, err, cfg.Timeout)
		if unreachable(err) {
			r.down(who, p.Interface, "attach", err, cfg)
		} else {
			r.addf("vem-hook: %s: interface %s: attach refused by vem-agent: %v", who, p.Interface, err)
			r.Fail = true
		}
		if r.Fail {
			r.rollback(who, c, cfg)
			for _, q := range ps[i+1:] {
				r.addf("vem-hook: %s: interface %s: not attached: the start fails", who, q.Interface)
			}
			return
		}
	}
}

// rollback detaches what this invocation attached, so a failed start
// leaves no port behind. It has its own short budget: the attach may
// have used all of the timeout.
func (r *Result) rollback(who string, c Client, cfg Config) {
	if len(r.Attached) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(cfg.Timeout, time.Second))
	defer cancel()
	for _, iface := range r.Attached {
		if err := c.Detach(ctx, iface); err != nil && !errors.Is(err, api.ErrNotFound) {
			r.addf("vem-hook: %s: interface %s: undo attach: %v", who, iface, timeoutErr(ctx, err, cfg.Timeout))
			continue
		}
		r.Detached = append(r.Detached, iface)
	}
	r.Attached = nil
}

func (r *Result) reattach(ctx context.Context, who string, ps []Port, cfg Config, c Client) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	for _, p := range ps {
		if err := p.Check(true); err != nil {
			r.addf("vem-hook: %s: interface %s: not reattached: %v", who, p.Name(), err)
			continue
		}
		if err := c.Attach(ctx, p.Request()); err != nil {
			// Never fail: libvirt would stop the running domain.
			r.addf("vem-hook: %s: interface %s: reattach: %v", who, p.Interface, timeoutErr(ctx, err, cfg.Timeout))
			continue
		}
		r.Attached = append(r.Attached, p.Interface)
	}
}

func (r *Result) detach(ctx context.Context, who string, ps []Port, cfg Config, c Client) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var agentPorts []api.Port // read once, for ports without a target
	for _, p := range ps {
		iface := p.Interface
		if iface == "" {
			// By stopped (generated names) or release (all) libvirt has
			// dropped the target dev of a tap it deleted. Find the port
			// by MAC among the attached ports whose interface is gone,
			// never a live one.
			if p.MAC == "" {
				continue
			}
			if agentPorts == nil {
				var err error
				if agentPorts, err = c.Ports(ctx); err != nil {
					r.addf("vem-hook: %s: interface %s: detach: list ports: %v", who, p.Name(), timeoutErr(ctx, err, cfg.Timeout))
					r.Fail = true
					return
				}
				agentPorts = append(agentPorts, api.Port{}) // non-nil: read
			}
			i := slices.IndexFunc(agentPorts, func(a api.Port) bool {
				return a.MAC == p.MAC && a.Source == "attached" && a.Interface != "" &&
					(a.State == api.PortAbsent || cfg.InterfaceGone != nil && cfg.InterfaceGone(a.Interface))
			})
			if i < 0 {
				continue // nothing of this NIC left
			}
			iface = agentPorts[i].Interface
		}
		err := c.Detach(ctx, iface)
		switch {
		case err == nil:
			r.Detached = append(r.Detached, iface)
		case errors.Is(err, api.ErrNotFound):
			// Detached already (stopped, then release).
		default:
			// libvirt ignores the status of stopped and release but logs
			// the message of a failure.
			r.addf("vem-hook: %s: interface %s: detach: %v", who, iface, timeoutErr(ctx, err, cfg.Timeout))
			r.Fail = true
		}
	}
}

// prepare checks, before an incoming domain starts here, that the agent
// is up and has its ports' segments.
func (r *Result) prepare(ctx context.Context, who, op string, ps []Port, cfg Config, c Client) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	segs, err := c.Segments(ctx)
	if err != nil {
		err = timeoutErr(ctx, err, cfg.Timeout)
		if unreachable(err) {
			r.down(who, ps[0].Name(), op, err, cfg)
		} else {
			r.addf("vem-hook: %s: %s: list segments: %v", who, op, err)
			r.Fail = true
		}
		return
	}
	for _, p := range ps {
		if !slices.ContainsFunc(segs, func(s api.Segment) bool { return s.Name == p.Segment }) {
			r.addf("vem-hook: %s: interface %s: %s: vem-agent has no segment %s", who, p.Name(), op, quote(p.Segment))
			r.Fail = true
		}
	}
}

// timeoutErr names the timeout when the deadline is why err happened.
func timeoutErr(ctx context.Context, err error, d time.Duration) error {
	if ctx.Err() != nil && !errors.Is(err, api.ErrNotRunning) {
		var ae *api.Error
		if !errors.As(err, &ae) {
			return fmt.Errorf("vem-agent did not answer within %v: %w", d, context.DeadlineExceeded)
		}
	}
	return err
}

// quoteName quotes a domain name when it has characters that would
// garble a one-line message.
func quoteName(s string) string {
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '"' }) >= 0 || len(s) > 64 {
		return quote(s)
	}
	return s
}

// oneLine keeps a message on one line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r < ' ' && r != '\t' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
