package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/spec"
)

// serveLogged serves b on a fresh socket with a logger whose entries the
// returned observer holds, until the test ends.
func serveLogged(t *testing.T, b api.Backend) (string, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	path := filepath.Join(t.TempDir(), "vem.sock")
	ln, err := api.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(b, zap.New(core))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return path, logs
}

// self is this process as the agent sees it through SO_PEERCRED.
func self() api.Peer {
	return api.Peer{PID: int32(os.Getpid()), UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}
}

func TestAttachRecordsPeer(t *testing.T) {
	b := fixture()
	path, _ := serveLogged(t, b)
	p := spec.Port{Interface: "tap-new", MAC: "52:54:00:00:00:0c", Segment: "db", Profile: "default", IPs: []string{"192.0.2.7", "2001:db8::7"}}
	if err := api.NewClient(path).Attach(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if len(b.Attachments) != 1 {
		t.Fatalf("%d attachments, want 1", len(b.Attachments))
	}
	a := b.Attachments[0]
	if !reflect.DeepEqual(a.Port, p) {
		t.Errorf("backend got port %+v, want %+v", a.Port, p)
	}
	if a.Peer == nil || *a.Peer != self() {
		t.Errorf("backend got peer %+v, want %+v", a.Peer, self())
	}
}

func TestAttachDetachLogCaller(t *testing.T) {
	path, logs := serveLogged(t, fixture())
	c := api.NewClient(path)
	ctx := context.Background()
	p := spec.Port{Interface: "tap-new", MAC: "52:54:00:00:00:0c", Segment: "db", IPs: []string{"192.0.2.7"}}
	if err := c.Attach(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := c.Detach(ctx, "tap-new"); err != nil {
		t.Fatal(err)
	}
	_ = c.Detach(ctx, "tap-new") // fails: not found

	me := self()
	caller := map[string]any{"uid": me.UID, "gid": me.GID, "pid": me.PID}
	tests := []struct {
		msg   string
		level zapcore.Level
		want  map[string]any // fields beside the caller's
	}{
		{"port attached", zapcore.InfoLevel, map[string]any{
			"interface": "tap-new", "mac": "52:54:00:00:00:0c", "segment": "db", "profile": "", "ips": []any{"192.0.2.7"}}},
		{"port detached", zapcore.InfoLevel, map[string]any{"interface": "tap-new"}},
		{"api request failed", zapcore.InfoLevel, map[string]any{
			"method": "DELETE", "path": "/v1/ports/tap-new", "status": int64(404),
			"error": "detach tap-new: no port on interface tap-new: not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			entries := logs.FilterMessage(tt.msg).All()
			if len(entries) != 1 {
				t.Fatalf("%d %q entries, want 1: %v", len(entries), tt.msg, logs.All())
			}
			e := entries[0]
			if e.Level != tt.level {
				t.Errorf("level %v, want %v", e.Level, tt.level)
			}
			want := map[string]any{}
			for k, v := range caller {
				want[k] = v
			}
			for k, v := range tt.want {
				want[k] = v
			}
			if got := e.ContextMap(); !reflect.DeepEqual(got, want) {
				t.Errorf("fields %#v\nwant   %#v", got, want)
			}
		})
	}
}

// TestPeerUnknown checks that a request that did not come through a unix
// socket has no peer, rather than a zero one that would read as root.
func TestPeerUnknown(t *testing.T) {
	b := fixture()
	srv := api.NewServer(b, nil)
	rec := httptest.NewRecorder()
	body := `{"interface":"tap-new","mac":"52:54:00:00:00:0c","segment":"db"}`
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/ports", strings.NewReader(body)))
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if p := b.Attachments[0].Peer; p != nil {
		t.Errorf("peer %+v, want none", *p)
	}
}

func TestContextWithPeer(t *testing.T) {
	if _, ok := api.PeerFrom(context.Background()); ok {
		t.Error("PeerFrom(Background) found a peer")
	}
	want := api.Peer{PID: 1234, UID: 107, GID: 112}
	if got, ok := api.PeerFrom(api.ContextWithPeer(context.Background(), want)); !ok || got != want {
		t.Errorf("PeerFrom = %+v, %v; want %+v, true", got, ok, want)
	}
}
