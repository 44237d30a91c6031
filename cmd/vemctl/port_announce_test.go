package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/api/apitest"
)

// announcingBackend announces tap-a (held until announced once) and
// knows no other port.
type announcingBackend struct {
	*apitest.Backend
	held bool
}

func (b *announcingBackend) Announce(_ context.Context, iface string, req api.AnnounceRequest) (api.AnnounceReply, error) {
	if iface != "tap-a" {
		return api.AnnounceReply{}, fmt.Errorf("%w: no vEth up on this interface", api.ErrNotFound)
	}
	rep := api.AnnounceReply{Interface: iface, WasDeferred: b.held}
	if req.PendingOnly && !b.held {
		rep.Reason = "no announcement pending"
		return rep, nil
	}
	b.held, rep.Announced = false, true
	return rep, nil
}

func TestPortAnnounce(t *testing.T) {
	socket := apitest.Serve(t, &announcingBackend{Backend: testBackend(), held: true})
	for _, c := range []struct {
		args []string
		code int
		out  string // a part of stdout, or of stderr when code != 0
	}{
		{[]string{"port", "announce", "--interface", "tap-a"}, 0, "Announcing tap-a (its announcement was held for an incoming domain).\n"},
		{[]string{"port", "announce", "--interface", "tap-a", "--pending-only"}, 0, "Nothing announced for tap-a: no announcement pending.\n"},
		{[]string{"port", "announce", "--interface", "tap-a"}, 0, "Announcing tap-a.\n"},
		{[]string{"port", "announce", "--interface", "tap-x"}, 1, "announce tap-x: not found: no vEth up on this interface"},
		{[]string{"port", "announce"}, 1, "missing required flag: --interface"},
	} {
		code, out, errOut := vemctl(t, socket, c.args...)
		got := out
		if c.code != 0 {
			got = errOut
		}
		if code != c.code || !strings.Contains(got, c.out) {
			t.Errorf("vemctl %v: exit %d, stdout %q, stderr %q; want exit %d and %q", c.args, code, out, errOut, c.code, c.out)
		}
	}
	code, out, errOut := vemctl(t, socket, "port", "announce", "--interface", "tap-a", "-o", "json")
	var rep api.AnnounceReply
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || !rep.Announced || rep.Interface != "tap-a" {
		t.Errorf("json: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
