package hook

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testUUID = "6f1d3a52-0000-4000-8000-000000000001"

func withUUID(xml, uuid string) string {
	return strings.Replace(xml, "<name>d1</name>", "<name>d1</name><uuid>"+uuid+"</uuid>", 1)
}

// TestRunIncoming: libvirt's operations on the destination of a live
// migration (migrate begin, prepare, start) or a restore make the start's
// attaches incoming; an ordinary start, a start after the incoming domain
// stopped (a failed migration), after a stale or refused migrate begin, or
// without a marker directory attaches as ever.
func TestRunIncoming(t *testing.T) {
	for _, c := range []struct {
		name string
		ops  []string
		// age makes the marker that old before the last operation.
		age   time.Duration
		segs  []string // the agent's segments, default web and db
		noDir bool
		uuid  string
		want  string // the agent calls of the last operation
		msg   string // a message expected from the run of the first operation
	}{
		{name: "live migration", ops: []string{"migrate begin", "prepare begin", "start begin"},
			want: "attach-incoming tap1,attach-incoming tap2"},
		{name: "restore", ops: []string{"restore begin", "prepare begin", "start begin"},
			want: "attach-incoming tap1,attach-incoming tap2"},
		{name: "ordinary start", ops: []string{"prepare begin", "start begin"}, want: "attach tap1,attach tap2"},
		{name: "migration failed before start", ops: []string{"migrate begin", "release end", "start begin"},
			want: "attach tap1,attach tap2"},
		{name: "stale marker", ops: []string{"migrate begin", "start begin"}, age: IncomingTTL + time.Minute,
			want: "attach tap1,attach tap2"},
		{name: "migration refused", ops: []string{"migrate begin", "start begin"}, segs: []string{"web"},
			want: "attach tap1,attach tap2,detach tap1"}, // db missing: the start fails and rolls back
		{name: "no marker directory", ops: []string{"migrate begin", "start begin"}, noDir: true,
			want: "attach tap1,attach tap2"},
		{name: "not a UUID", ops: []string{"migrate begin", "start begin"}, uuid: "../../etc/passwd",
			want: "attach tap1,attach tap2", msg: "is not a UUID"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFake()
			if c.segs != nil {
				f.segments = c.segs
			}
			dir := filepath.Join(t.TempDir(), "incoming")
			cfg := testCfg
			if !c.noDir {
				cfg.IncomingDir = dir
			}
			uuid := testUUID
			if c.uuid != "" {
				uuid = c.uuid
			}
			xml := withUUID(twoPorts(), uuid)
			for i, op := range c.ops {
				o, sub, _ := strings.Cut(op, " ")
				if i == len(c.ops)-1 && c.age > 0 {
					old := time.Now().Add(-c.age)
					if err := os.Chtimes(filepath.Join(dir, uuid), old, old); err != nil {
						t.Fatal(err)
					}
				}
				before := len(f.calls)
				res := run(t, f, "d1", o, sub, xml, cfg)
				if i == 0 && c.msg != "" {
					if len(res.Messages) != 1 || !strings.Contains(res.Messages[0], c.msg) || res.Fail {
						t.Fatalf("%s: %+v, want one message with %q, no failure", op, res, c.msg)
					}
				}
				if i == len(c.ops)-1 {
					if got := strings.Join(f.calls[before:], ","); got != c.want {
						t.Fatalf("%s: calls %s, want %s", op, got, c.want)
					}
				}
			}
			if _, err := os.Stat(filepath.Join(dir, testUUID)); err == nil {
				t.Errorf("marker left after the start")
			}
		})
	}
}
