package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
)

func TestMemberFlag(t *testing.T) {
	tests := []struct {
		status, want string
	}{
		{"bundled", "P"},
		{"Operational", "P"},
		{"standby", "H"},
		{"individual", "I"},
		{"down", "D"},
		{"Link Down", "D"},
		{"waiting", "s"},
		{"", "?"},
		{"churned", "?"},
	}
	for _, tt := range tests {
		if got := memberFlag(tt.status); got != tt.want {
			t.Errorf("memberFlag(%q) = %q, want %q", tt.status, got, tt.want)
		}
	}
}

func TestProtocol(t *testing.T) {
	tests := []struct{ mode, want string }{
		{"lacp-active", "LACP"},
		{"lacp-passive", "LACP"},
		{"static", "NONE"},
		{"mac-pinning", "NONE"},
	}
	for _, tt := range tests {
		if got := protocol(tt.mode); got != tt.want {
			t.Errorf("protocol(%q) = %q, want %q", tt.mode, got, tt.want)
		}
	}
}

func TestPDUAge(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct{ last, want string }{
		{"", ""},
		{"2024-05-01T10:00:00Z", "0.0s ago"},
		{"2024-05-01T09:59:59.2Z", "0.8s ago"},
		{"2024-05-01T09:59:30Z", "30.0s ago"},
		{"2024-05-01T09:59:00Z", "1m0s ago"},
		{"2024-05-01T08:00:00Z", "2h0m0s ago"},
		{"2024-05-01T12:00:00+02:00", "0.0s ago"}, // the same instant in another zone
		{"2024-05-01T10:00:05Z", "0.0s ago"},      // ahead of now: a clock step
		{"yesterday", "yesterday"},
	}
	for _, tt := range tests {
		if got := pduAge(tt.last, now); got != tt.want {
			t.Errorf("pduAge(%q) = %q, want %q", tt.last, got, tt.want)
		}
	}
}

func TestCompareNames(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"po2", "po10", -1},
		{"po10", "po2", 1},
		{"po1", "po1", 0},
		{"eth1", "po1", -1},
		{"po", "po1", -1},
		{"bond0", "po0", -1},
	}
	for _, tt := range tests {
		if got := compareNames(tt.a, tt.b); got != tt.want {
			t.Errorf("compareNames(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestPortChannelJSONFieldNames checks that -o json writes the API's
// field names, and leaves out what a static channel does not have.
func TestPortChannelJSONFieldNames(t *testing.T) {
	var b bytes.Buffer
	pcs := []api.PortChannel{{Name: "po2", Mode: "static", MinLinks: 1, Members: []api.PortChannelMember{{Interface: "eth1", Status: "Operational", Active: true}}}}
	if err := writeJSON(&b, pcs); err != nil {
		t.Fatal(err)
	}
	want := `[
  {
    "name": "po2",
    "mode": "static",
    "up": false,
    "minLinks": 1,
    "autoPriorityFailover": false,
    "members": [
      {
        "interface": "eth1",
        "priority": 0,
        "status": "Operational",
        "active": true
      }
    ]
  }
]
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
