package lacp

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestStatusJSON checks the shape vemctl reads.
func TestStatusJSON(t *testing.T) {
	n := newTestNet(t)
	n.add("A", testConfig(0xa, 2))
	n.add("B", testConfig(0xb, 2))
	n.bundle("A", "B", 1)
	n.clk.Advance(5 * time.Second)

	b, err := json.Marshal(n.aggs["A"].Status())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Name    string   `json:"name"`
		Mode    string   `json:"mode"`
		Rate    string   `json:"rate"`
		Up      bool     `json:"up"`
		Members []string `json:"members"`
		Partner struct {
			MAC string `json:"mac"`
		} `json:"partner"`
		Ports []struct {
			Name   string `json:"name"`
			State  string `json:"state"`
			Reason string `json:"reason"`
			Actor  struct {
				State  string `json:"state"`
				System struct {
					Priority int    `json:"priority"`
					MAC      string `json:"mac"`
				} `json:"system"`
			} `json:"actor"`
			LastPDU  *time.Time `json:"lastPdu"`
			Counters struct {
				PDUsRx uint64 `json:"pdusRx"`
			} `json:"counters"`
		} `json:"ports"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	p1, p2 := got.Ports[0], got.Ports[1]
	if got.Name != "A" || got.Mode != "active" || got.Rate != "fast" || !got.Up ||
		strings.Join(got.Members, ",") != "eth1" || got.Partner.MAC != "02:00:00:00:00:0b" ||
		p1.State != "bundled" || p1.Actor.State != "ATGSCD.." || p1.Actor.System.MAC != "02:00:00:00:00:0a" ||
		p1.Actor.System.Priority != DefaultSystemPriority || p1.LastPDU == nil || p1.Counters.PDUsRx == 0 ||
		p2.State != "down" || p2.Reason != "carrier down" || p2.LastPDU != nil {
		t.Errorf("status JSON:\n%s", b)
	}
}

func TestEventString(t *testing.T) {
	e := Event{Kind: EventKeyMismatch, PortChannel: "po1", Port: "eth1", Message: "m"}
	if s := e.String(); s != "po1 eth1: key-mismatch: m" {
		t.Errorf("String = %q", s)
	}
	e = Event{Kind: EventAggregateDown, PortChannel: "po1", Message: "m"}
	if s := e.String(); s != "po1: aggregate-down: m" {
		t.Errorf("String = %q", s)
	}
	if s := EventKind(200).String(); s != "EventKind(200)" {
		t.Errorf("unknown kind = %q", s)
	}
}

func TestMACText(t *testing.T) {
	var m MAC
	if err := m.UnmarshalText([]byte("02:00:5e:10:00:01")); err != nil || m != (MAC{2, 0, 0x5e, 0x10, 0, 1}) {
		t.Fatalf("UnmarshalText = %v, %v", m, err)
	}
	if b, _ := m.MarshalText(); string(b) != "02:00:5e:10:00:01" {
		t.Errorf("MarshalText = %s", b)
	}
	if err := m.UnmarshalText([]byte("nope")); err == nil {
		t.Error("UnmarshalText accepted garbage")
	}
}
