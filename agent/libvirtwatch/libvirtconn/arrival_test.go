//go:build cgo

package libvirtconn

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/libvirtwatch"
	"github.com/vem-switch/vem/agent/libvirtwatch/watchtest"
)

// TestArrivalEvents, on libvirt's test driver: a domain suspended and
// resumed (RESUMED, detail UNPAUSED) has only its pending announcements
// asked for; one saved and restored (STARTED, detail RESTORED) has its
// ports announced. The driver cannot migrate, so RESUMED with detail
// MIGRATED is covered over the fake libvirt (package libvirtwatch).
func TestArrivalEvents(t *testing.T) {
	c := open(t)
	agent := watchtest.NewAgent()
	h := startWatcher(t, agent)
	const mac = "52:54:00:31:00:01"
	d := define(t, c, domainXML("lw-arrive", uuidOf(0x31), "tap-arr0"))
	if err := d.Create(); err != nil {
		t.Fatal(err)
	}
	h.waitFor("online after start", stateIs("lw-arrive", mac, libvirtwatch.Online))
	agent.Calls()

	waitCall := func(what, want string) {
		t.Helper()
		var got []string
		deadline := time.Now().Add(5 * time.Second)
		for !slices.Contains(got, want) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: calls %v, no %q within 5 s", what, got, want)
			}
			time.Sleep(5 * time.Millisecond)
			got = append(got, agent.Calls()...)
		}
		for _, call := range got {
			if call != want && call != "attach tap-arr0" && call != "detach tap-arr0" {
				t.Errorf("%s: unexpected call %q among %v", what, call, got)
			}
		}
	}
	if err := d.Suspend(); err != nil {
		t.Fatal(err)
	}
	if err := d.Resume(); err != nil {
		t.Fatal(err)
	}
	waitCall("suspend and resume", "announce-pending tap-arr0")

	img := filepath.Join(t.TempDir(), "lw-arrive.save")
	if err := d.Save(img); err != nil {
		t.Fatal(err)
	}
	h.waitFor("intentional-offline after save", stateIs("lw-arrive", mac, libvirtwatch.IntentionalOffline))
	if err := c.DomainRestore(img); err != nil {
		t.Fatal(err)
	}
	waitCall("save and restore", "announce tap-arr0")
	h.waitFor("online after restore", stateIs("lw-arrive", mac, libvirtwatch.Online))
}
