package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
)

var testDPA = func() api.DPA {
	since := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	return api.DPA{
		Mode: "vsm", State: "headless", AttachedVSM: "vsm-a", Epoch: 4, Module: 3, Generation: 12,
		HeadlessSince: &since, QueuedPortEvents: 1,
		VSMs: []api.DPAVSM{
			{Name: "vsm-a", Address: "203.0.113.1:7443", Role: "primary", State: "unreachable", LastHeartbeatAgeMs: 15200, Epoch: 4},
			{Address: "203.0.113.2:7443", State: "unreachable", LastHeartbeatAgeMs: -1},
		},
		Counters: api.DPACounters{HeadlessEntries: 1},
	}
}()

func TestDPATables(t *testing.T) {
	tests := []struct {
		name string
		d    api.DPA
		want string
	}{
		{"headless", testDPA, `
Mode  State     Attached VSM  Module  Epoch  Generation  Headless since        Queued port events
----  --------  ------------  ------  -----  ----------  --------------------  ------------------
vsm   headless  vsm-a         3       4      12          2024-05-01T10:00:00Z  1

VSM    Address           Role     State        Last heartbeat  Epoch
-----  ----------------  -------  -----------  --------------  -----
vsm-a  203.0.113.1:7443  primary  unreachable  15.2s ago       4
--     203.0.113.2:7443  --       unreachable  --              0
`},
		{"standalone", api.DPA{Mode: "standalone", State: "attached", VSMs: []api.DPAVSM{}}, `
Mode        State     Attached VSM  Module  Epoch  Generation  Headless since  Queued port events
----------  --------  ------------  ------  -----  ----------  --------------  ------------------
standalone  attached  --            --      0      0           --              0
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeDPA(&b, tt.d); err != nil {
				t.Fatal(err)
			}
			if got, want := b.String(), strings.TrimPrefix(tt.want, "\n"); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestDPAJSON: -o json is DESIGN's shape of vemctl show dpa.
func TestDPAJSON(t *testing.T) {
	o := &options{output: outputJSON}
	var b bytes.Buffer
	if err := o.render(&b, testDPA, nil); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mode", "state", "attachedVSM", "epoch", "module", "generation", "headlessSince", "vsms", "queuedPortEvents"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, b.String())
		}
	}
	vsm := m["vsms"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "address", "role", "state", "lastHeartbeatAgeMs", "epoch"} {
		if _, ok := vsm[k]; !ok {
			t.Errorf("no %q in vsms[0] of %s", k, b.String())
		}
	}
}
