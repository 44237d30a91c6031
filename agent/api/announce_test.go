package api_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/api/apitest"
	"github.com/vem-switch/vem/spec"
)

// announceBackend is a Backend that attaches incoming ports and announces.
type announceBackend struct {
	*apitest.Backend
	mu       sync.Mutex
	incoming []string
	calls    []string
}

func (b *announceBackend) AttachIncoming(_ context.Context, p spec.Port) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.incoming = append(b.incoming, p.Interface)
	return nil
}

func (b *announceBackend) Announce(_ context.Context, iface string, req api.AnnounceRequest) (api.AnnounceReply, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, fmt.Sprintf("%s pendingOnly=%v", iface, req.PendingOnly))
	if iface != "tap-a" {
		return api.AnnounceReply{}, fmt.Errorf("no vEth on %s: %w", iface, api.ErrNotFound)
	}
	return api.AnnounceReply{Interface: iface, Announced: !req.PendingOnly, WasDeferred: true}, nil
}

// TestAnnounceEndpoint: an incoming attach reaches AttachIncoming, a plain
// one Attach; announce requests reach Announce with their option, and an
// unknown port is a 404 that names it.
func TestAnnounceEndpoint(t *testing.T) {
	b := &announceBackend{Backend: fixture()}
	c := api.NewClient(apitest.Serve(t, b))
	ctx := context.Background()
	p := spec.Port{Interface: "tap-z", MAC: "52:54:00:00:00:0f", Segment: "web"}
	if err := c.AttachIncoming(ctx, p); err != nil {
		t.Fatal(err)
	}
	if len(b.incoming) != 1 || b.incoming[0] != "tap-z" {
		t.Fatalf("incoming attaches %v, want tap-z", b.incoming)
	}
	rep, err := c.Announce(ctx, "tap-a", api.AnnounceRequest{})
	if err != nil || !rep.Announced || !rep.WasDeferred || rep.Interface != "tap-a" {
		t.Fatalf("announce: %+v, %v", rep, err)
	}
	if rep, err = c.Announce(ctx, "tap-a", api.AnnounceRequest{PendingOnly: true}); err != nil || rep.Announced {
		t.Fatalf("announce pending only: %+v, %v", rep, err)
	}
	_, err = c.Announce(ctx, "nosuch", api.AnnounceRequest{})
	if !errors.Is(err, api.ErrNotFound) || !strings.Contains(err.Error(), "announce nosuch: no vEth on nosuch") {
		t.Fatalf("announce an unknown port: %v", err)
	}
	if got := strings.Join(b.calls, "; "); got != "tap-a pendingOnly=false; tap-a pendingOnly=true; nosuch pendingOnly=false" {
		t.Fatalf("announce calls: %s", got)
	}
	hc := rawClient(apitest.Serve(t, b))
	resp, err := hc.Post("http://x/v1/ports/tap-a/announce", "application/json", strings.NewReader(`{"pendingonly": true}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("a misspelt field: status %d, want 400", resp.StatusCode)
	}
	resp, err = hc.Post("http://x/v1/ports/tap-a/announce", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("no body: status %d, want 200", resp.StatusCode)
	}
}

// TestAnnounceWithoutAnnouncer: an agent without the feature answers 404,
// and attaches an incoming port as any other.
func TestAnnounceWithoutAnnouncer(t *testing.T) {
	b := fixture()
	c := api.NewClient(apitest.Serve(t, b))
	if _, err := c.Announce(context.Background(), "tap-a", api.AnnounceRequest{}); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("announce: %v, want not found", err)
	}
	if err := c.AttachIncoming(context.Background(), spec.Port{Interface: "tap-z", MAC: "52:54:00:00:00:0f", Segment: "web"}); err != nil {
		t.Fatalf("incoming attach on an agent without the feature: %v", err)
	}
}
