package pair

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/vsm/config"
	"github.com/vem-switch/vem/vsm/ha"
)

func sampleHeartbeat() ha.Heartbeat {
	return ha.Heartbeat{Name: "vsm-a", Domain: 100, Role: config.RolePrimary, State: ha.Active, Epoch: 7, Modules: 3,
		LastConfig: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), LastSwitch: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Request: true, Takeover: true}
}

func TestHeartbeatRoundTrip(t *testing.T) {
	hb := sampleHeartbeat()
	data, err := EncodeHeartbeat(hb)
	if err != nil {
		t.Fatal(err)
	}
	body, err := readFrame(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeHeartbeat(body)
	if err != nil {
		t.Fatal(err)
	}
	if got != hb {
		t.Fatalf("got %+v, want %+v", got, hb)
	}
}

func TestDecodeHeartbeatRefuses(t *testing.T) {
	for name, body := range map[string]string{
		"empty":         ``,
		"not json":      `hello`,
		"unknown field": `{"v":1,"name":"a","domain":1,"role":"primary","state":"active","epoch":1,"modules":0,"lastConfig":"0001-01-01T00:00:00Z","lastSwitch":"0001-01-01T00:00:00Z","extra":1}`,
		"version":       `{"v":3,"name":"a","domain":1,"role":"primary","state":"active"}`,
		"version 0":     `{"v":0,"name":"a","domain":1,"role":"primary","state":"active"}`,
		"no name":       `{"v":1,"domain":1,"role":"primary","state":"active"}`,
		"long name":     `{"v":1,"name":"` + strings.Repeat("a", 65) + `","domain":1,"role":"primary","state":"active"}`,
		"domain 0":      `{"v":1,"name":"a","domain":0,"role":"primary","state":"active"}`,
		"domain 4096":   `{"v":1,"name":"a","domain":4096,"role":"primary","state":"active"}`,
		"standalone":    `{"v":1,"name":"a","domain":1,"role":"standalone","state":"active"}`,
		"state":         `{"v":1,"name":"a","domain":1,"role":"primary","state":"master"}`,
		"modules":       `{"v":1,"name":"a","domain":1,"role":"primary","state":"active","modules":-1}`,
		"trailing":      `{"v":1,"name":"a","domain":1,"role":"primary","state":"active"} {}`,
		"too big":       `{"v":1,"name":"` + strings.Repeat("a", MaxFrame) + `"}`,
	} {
		if _, err := DecodeHeartbeat([]byte(body)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
}

func TestReadFrameBounds(t *testing.T) {
	if _, err := readFrame(bytes.NewReader([]byte{0, 0})); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty frame: %v", err)
	}
	if _, err := readFrame(bytes.NewReader([]byte{0xff, 0xff})); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized frame: %v", err)
	}
	if _, err := decodeSyncHeader([]byte(`{"v":1,"generation":1,"epoch":1,"size":-1}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("negative snapshot size: %v", err)
	}
	if _, err := decodeSyncHeader([]byte(`{"v":1,"generation":1,"epoch":1,"size":999999999999}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("huge snapshot: %v", err)
	}
}

func FuzzDecodeHeartbeat(f *testing.F) {
	data, _ := EncodeHeartbeat(sampleHeartbeat())
	f.Add(data[2:])
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"name":"a","domain":1,"role":"secondary","state":"standby","stable":true}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		hb, err := DecodeHeartbeat(body)
		if err != nil {
			return
		}
		// What decodes is valid and survives a round trip.
		if hb.Name == "" || hb.Domain < 1 || hb.Domain > config.MaxDomain || !hb.Role.Paired() || hb.Modules < 0 {
			t.Fatalf("invalid heartbeat decoded: %+v", hb)
		}
		again, err := EncodeHeartbeat(hb)
		if err != nil {
			return // a name of escapes can grow past the frame bound
		}
		hb2, err := DecodeHeartbeat(again[2:])
		if err != nil || !hb2.LastConfig.Equal(hb.LastConfig) || hb2.Name != hb.Name || hb2.Epoch != hb.Epoch {
			t.Fatalf("round trip: %+v, %v", hb2, err)
		}
	})
}

func FuzzDecodeSyncRequest(f *testing.F) {
	f.Add([]byte(`{"v":1,"domain":100,"full":true,"after":0}`))
	f.Add([]byte(`{"v":1,"domain":100,"after":12}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeSyncRequest(body)
		if d := r.Version - WireVersion; err == nil && (d < -1 || d > 1) {
			t.Fatalf("decoded %+v", r)
		}
		h, err := decodeSyncHeader(body)
		if err == nil && (h.Size < 0 || h.Size > MaxSnapshot) {
			t.Fatalf("decoded %+v", h)
		}
	})
}

// TestDecodeNeighbourVersions: a heartbeat or sync message of the next
// wire version is accepted, its fields this build does not know ignored
// (the newer build of a rolling upgrade may have added some); one of the
// previous version too, strictly.
func TestDecodeNeighbourVersions(t *testing.T) {
	next := fmt.Sprintf(`{"v":%d,"name":"a","domain":1,"role":"primary","state":"active","epoch":3,"modules":2,"lastConfig":"0001-01-01T00:00:00Z","lastSwitch":"0001-01-01T00:00:00Z","added":{"x":1}}`, WireVersion+1)
	hb, err := DecodeHeartbeat([]byte(next))
	if err != nil || hb.Epoch != 3 || hb.Modules != 2 {
		t.Fatalf("a heartbeat of version %d: %+v, %v", WireVersion+1, hb, err)
	}
	if _, err := decodeSyncRequest([]byte(fmt.Sprintf(`{"v":%d,"domain":100,"after":12,"added":true}`, WireVersion+1))); err != nil {
		t.Fatalf("a sync request of the next version: %v", err)
	}
	if _, err := decodeSyncHeader([]byte(fmt.Sprintf(`{"v":%d,"generation":1,"revision":1,"epoch":1,"size":0,"added":1}`, WireVersion+1))); err != nil {
		t.Fatalf("a sync header of the next version: %v", err)
	}
	if _, err := decodeSyncRequest([]byte(fmt.Sprintf(`{"v":%d,"domain":100,"after":12}`, WireVersion+2))); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a sync request two versions ahead: %v", err)
	}
}
