package portchannel

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vem-switch/vem/spec"
)

func TestNewValidates(t *testing.T) {
	many := make([]Member, 17)
	for i := range many {
		many[i] = Member{Name: fmt.Sprintf("eth%d", i)}
	}
	static := func(f func(*Config)) Config {
		cfg := Config{Name: "po1", Mode: spec.ModeStatic, Members: members(t, "eth1 eth2")}
		f(&cfg)
		return cfg
	}
	lacpCfg := func(f func(*Config)) Config {
		cfg := lacpTestConfig(1, "eth1", "eth2")
		f(&cfg)
		return cfg
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // substring of the error; empty: valid
	}{
		{"static", static(func(*Config) {}), ""},
		{"mac-pinning", static(func(c *Config) { c.Mode = spec.ModeMACPinning }), ""},
		{"lacp-active", lacpCfg(func(*Config) {}), ""},
		{"lacp-passive slow", lacpCfg(func(c *Config) { c.Mode, c.Rate = spec.ModeLACPPassive, spec.RateSlow }), ""},
		{"lacp default rate", lacpCfg(func(c *Config) { c.Rate = "" }), ""},
		{"16 members", static(func(c *Config) { c.Members = many[:16] }), ""},
		{"no name", static(func(c *Config) { c.Name = "" }), "name: required"},
		{"unknown mode", static(func(c *Config) { c.Mode = "on" }), `mode "on"`},
		{"no members", static(func(c *Config) { c.Members = nil }), "members: 0, want 1..16"},
		{"17 members", static(func(c *Config) { c.Members = many }), "members: 17, want 1..16"},
		{"duplicate", static(func(c *Config) { c.Members = members(t, "eth1 eth1") }), "member eth1: duplicate name"},
		{"empty member", static(func(c *Config) { c.Members = []Member{{}} }), "member 0: name required"},
		{"negative priority", static(func(c *Config) { c.Members[1].Priority = -1 }), "member eth2: priority -1"},
		{"priority too big", static(func(c *Config) { c.Members[0].Priority = 65536 }), "member eth1: priority 65536"},
		{"min links above members", static(func(c *Config) { c.MinLinks = 3 }), "min links 3: want 0..2"},
		{"negative min links", static(func(c *Config) { c.MinLinks = -1 }), "min links -1"},
		{"lacp min links above 8", lacpCfg(func(c *Config) { c.Members, c.MinLinks = many[:10], 9 }), "min links 9: want 0..8"},
		{"lacp bad rate", lacpCfg(func(c *Config) { c.Rate = "medium" }), `rate "medium"`},
		{"lacp port number missing", lacpCfg(func(c *Config) { delete(c.PortNumbers, "eth2") }), "member eth2: LACP port number required"},
		{"lacp duplicate port number", lacpCfg(func(c *Config) { c.PortNumbers["eth2"] = 1 }), "duplicate number 1"},
		{"lacp zero key", lacpCfg(func(c *Config) { c.Key = 0 }), "key: want non-zero"},
		{"lacp multicast system", lacpCfg(func(c *Config) { c.System.MAC[0] = 1 }), "system MAC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("New succeeded, want error %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("New: %v, want it to mention %q", err, tc.want)
			case err != nil && tc.cfg.Name != "" && !strings.Contains(err.Error(), tc.cfg.Name):
				t.Errorf("error %q does not name the port-channel", err)
			}
		})
	}
}

func TestNewReportsAllProblems(t *testing.T) {
	_, err := New(Config{Name: "po1", Mode: "bond", MinLinks: -1})
	for _, want := range []string{"mode", "members", "min links"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}

func TestNewCopiesConfig(t *testing.T) {
	cfg := Config{Name: "po1", Mode: spec.ModeStatic, Members: members(t, "eth1 eth2")}
	c, _ := newTestChannel(t, cfg)
	cfg.Members[0].Name = "changed"
	c.SetCarrier("eth1", true)
	if got := c.State().Distributing; len(got) != 1 || got[0] != "eth1" {
		t.Errorf("Distributing = %v after the caller changed its slice, want [eth1]", got)
	}
}

func TestReconfigureRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		base   Config
		change func(*Config)
		want   error // nil: applied
	}{
		{"static name", Config{Mode: spec.ModeStatic, Members: members(t, "a b")}, func(c *Config) { c.Name = "po2" }, ErrRecreate},
		{"static mode", Config{Mode: spec.ModeStatic, Members: members(t, "a b")}, func(c *Config) { c.Mode = spec.ModeMACPinning }, ErrRecreate},
		{"static netns", Config{Mode: spec.ModeStatic, Members: members(t, "a b")}, func(c *Config) { c.NetNS = "/run/netns/x" }, ErrRecreate},
		{"static members", Config{Mode: spec.ModeStatic, Members: members(t, "a b")}, func(c *Config) { c.Members = members(t, "a c") }, nil},
		{"lacp unchanged", lacpTestConfig(1, "a", "b"), func(*Config) {}, nil},
		{"lacp fast is default", lacpTestConfig(1, "a", "b"), func(c *Config) { c.Rate = "" }, nil},
		{"lacp rate", lacpTestConfig(1, "a", "b"), func(c *Config) { c.Rate = spec.RateSlow }, ErrRecreate},
		{"lacp priority", lacpTestConfig(1, "a", "b"), func(c *Config) { c.Members[1].Priority = 1 }, ErrRecreate},
		{"lacp member", lacpTestConfig(1, "a", "b"), func(c *Config) { c.Members = c.Members[:1] }, ErrRecreate},
		{"lacp port number", lacpTestConfig(1, "a", "b"), func(c *Config) { c.PortNumbers = map[string]uint16{"a": 1, "b": 3} }, ErrRecreate},
		{"lacp min links", lacpTestConfig(1, "a", "b"), func(c *Config) { c.MinLinks = 2 }, ErrRecreate},
		{"lacp system", lacpTestConfig(1, "a", "b"), func(c *Config) { c.System.Priority = 1 }, ErrRecreate},
		{"invalid", Config{Mode: spec.ModeStatic, Members: members(t, "a b")}, func(c *Config) { c.Members = nil }, errInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestChannel(t, tc.base)
			cfg := tc.base.clone()
			cfg.Name = "po1"
			cfg.PortNumbers = tc.base.clone().PortNumbers
			tc.change(&cfg)
			err := c.Reconfigure(cfg)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("Reconfigure: %v", err)
			case tc.want == errInvalid && (err == nil || errors.Is(err, ErrRecreate)):
				t.Fatalf("Reconfigure: %v, want a validation error", err)
			case tc.want == ErrRecreate && !errors.Is(err, ErrRecreate):
				t.Fatalf("Reconfigure: %v, want ErrRecreate", err)
			}
		})
	}
}

// errInvalid marks a table entry that must fail validation.
var errInvalid = errors.New("invalid")
