package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/api/apitest"
	"github.com/vem-switch/vem/spec"
)

// fixture returns a backend with two segments, two ports, MACs and counters.
func fixture() *apitest.Backend {
	return &apitest.Backend{
		StatusInfo: api.Status{Host: "hv1", Instance: "default", Mode: "standalone", Uplink: "po1",
			Engine: api.EngineStatus{State: api.EngineRetrying, Error: "apply port tap-a: map full", Attempts: 2,
				NextRetry: "2024-05-01T10:00:04Z", LastApplied: "2024-05-01T09:00:00Z", DriftRepairs: 1, LastResync: "2024-05-01T09:59:00Z"}},
		PortList: []api.Port{
			{Name: "Vethernet1", Interface: "tap-a", Ifindex: 7, Kind: "veth", MAC: "52:54:00:00:00:0a", Segment: "web", Profile: "default", State: "up", Source: "config"},
			{Name: "eth1", Interface: "eth1", Ifindex: 3, Kind: "uplink", State: "up", Source: "config"},
		},
		MACs: []api.MACEntry{
			{Segment: "web", MAC: "52:54:00:00:00:0a", Port: "tap-a", AgeSeconds: 1.5},
			{Segment: "db", MAC: "52:54:00:00:00:0b", Port: "eth1", Remote: true, VTEP: "198.51.100.2", AgeSeconds: 20},
		},
		SegmentList: []api.Segment{
			{Name: "web", Type: "vlan", VLAN: 100, Ports: []string{"Vethernet1"}},
			{Name: "db", Type: "vxlan", VNI: 5001},
		},
		VTEPInfo: api.VTEPs{Local: "198.51.100.1", Port: 4789, Remote: []api.RemoteVTEP{
			{Address: "198.51.100.2", BridgeDomains: []int{5001}, NextHop: "198.51.100.2", Interface: "eth1", MACs: 1},
			{Address: "203.0.113.9"}, // no route, no bridge domain yet
		}},
		BridgeDomainList: []api.BridgeDomain{
			{VNI: 5001, Segment: "db", Mode: "unicast-only", MTU: 1450, VTEPs: []string{"198.51.100.2", "203.0.113.9"}, Ports: []string{"Vethernet2"}},
			{VNI: 5002, Segment: "lab", Mode: "unicast-only", MTU: 1450},
		},
		PortChannelList: []api.PortChannel{
			{Name: "po1", Mode: "lacp-active", Up: true, MinLinks: 1, System: "32768,52:54:00:aa:00:01", Key: 1,
				PartnerSystem: "32768,00:1b:21:00:00:01", PartnerKey: 13, Members: []api.PortChannelMember{
					{Interface: "eth1", Priority: 32768, Status: "bundled", Active: true},
					{Interface: "eth2", Priority: 32768, Status: "individual", Reason: "no LACPDU from the partner"},
				}},
			{Name: "po2", Mode: "mac-pinning", MinLinks: 1, AutoPriorityFailover: true}, // no members yet
		},
		LACPNeighborList: []api.LACPNeighbor{
			{PortChannel: "po1", Interface: "eth1", State: "bundled", PartnerSystem: "32768,00:1b:21:00:00:01", PartnerKey: 13,
				PartnerPort: 7, PartnerPortPriority: 32768, PartnerState: "AGSCD", ActorState: "AGSCD", LastPDU: "2024-05-01T10:00:00Z"},
			{PortChannel: "po1", Interface: "eth2", State: "individual", PartnerState: "F", ActorState: "AG"},
		},
		LACPCounterList: []api.LACPCounters{
			{PortChannel: "po1", Interface: "eth1", PDUsRx: 40, PDUsTx: 41, MalformedRx: 1, MarkersRx: 2, MarkersTx: 3},
		},
		CounterList: []api.Counters{
			{Port: "Vethernet1", RxPackets: 10, RxBytes: 1000, TxPackets: 5, TxBytes: 500, Drops: map[string]uint64{"port-security": 2}},
			{Port: "eth1", RxPackets: 1, RxBytes: 64},
		},
	}
}

func TestClientRoutes(t *testing.T) {
	b := fixture()
	want := fixture() // b's tables change under Attach and Detach
	c := api.NewClient(apitest.Serve(t, b))
	ctx := context.Background()

	tests := []struct {
		name string
		call func() (any, error)
		want any
	}{
		{"status", func() (any, error) { return c.Status(ctx) }, want.StatusInfo},
		{"ports", func() (any, error) { return c.Ports(ctx) }, want.PortList},
		{"mac-table all", func() (any, error) { return c.MACTable(ctx, "") }, want.MACs},
		{"mac-table one segment", func() (any, error) { return c.MACTable(ctx, "db") }, want.MACs[1:]},
		{"segments", func() (any, error) { return c.Segments(ctx) }, []api.Segment{
			want.SegmentList[0],
			{Name: "db", Type: "vxlan", VNI: 5001, Ports: []string{}}, // [] on the wire, never null
		}},
		{"vxlan vteps", func() (any, error) { return c.VTEPs(ctx) }, api.VTEPs{Local: "198.51.100.1", Port: 4789, Remote: []api.RemoteVTEP{
			want.VTEPInfo.Remote[0],
			{Address: "203.0.113.9", BridgeDomains: []int{}},
		}}},
		{"bridge-domains", func() (any, error) { return c.BridgeDomains(ctx) }, []api.BridgeDomain{
			want.BridgeDomainList[0],
			{VNI: 5002, Segment: "lab", Mode: "unicast-only", MTU: 1450, VTEPs: []string{}, Ports: []string{}},
		}},
		{"port-channels", func() (any, error) { return c.PortChannels(ctx) }, []api.PortChannel{
			want.PortChannelList[0],
			{Name: "po2", Mode: "mac-pinning", MinLinks: 1, AutoPriorityFailover: true, Members: []api.PortChannelMember{}},
		}},
		{"lacp neighbors", func() (any, error) { return c.LACPNeighbors(ctx) }, want.LACPNeighborList},
		{"lacp counters", func() (any, error) { return c.LACPCounters(ctx) }, want.LACPCounterList},
		{"counters all", func() (any, error) { return c.Counters(ctx, "") }, []api.Counters{
			want.CounterList[0],
			{Port: "eth1", RxPackets: 1, RxBytes: 64, Drops: map[string]uint64{}},
		}},
		{"counters one port", func() (any, error) { return c.Counters(ctx, "Vethernet1") }, want.CounterList[:1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.call()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestClientAttachDetach(t *testing.T) {
	b := fixture()
	c := api.NewClient(apitest.Serve(t, b))
	ctx := context.Background()

	p := spec.Port{Interface: "tap-new", MAC: "52:54:00:00:00:0c", Segment: "db", Profile: "default"}
	if err := c.Attach(ctx, p); err != nil {
		t.Fatalf("attach: %v", err)
	}
	ports, err := c.Ports(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := ports[len(ports)-1]
	if got := (spec.Port{Interface: last.Interface, MAC: last.MAC, Segment: last.Segment, Profile: last.Profile}); got.Interface != p.Interface || got.MAC != p.MAC || got.Segment != p.Segment || got.Profile != p.Profile {
		t.Errorf("attached port %+v, want %+v", got, p)
	}

	if err := c.Attach(ctx, p); !errors.Is(err, api.ErrConflict) {
		t.Errorf("second attach: got %v, want a conflict", err)
	}
	if err := c.Detach(ctx, "tap-new"); err != nil {
		t.Fatalf("detach: %v", err)
	}
	if ports, _ := c.Ports(ctx); len(ports) != 2 {
		t.Errorf("after detach: %d ports, want 2", len(ports))
	}
	err = c.Detach(ctx, "tap-new")
	if !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("second detach: got %v, want not found", err)
	}
	// The backend's message comes through as the error's text.
	if want := "detach tap-new: no port on interface tap-new: not found"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

// rawClient speaks HTTP to the socket directly, to send what Client never
// would.
func rawClient(socket string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
}

func TestServerErrors(t *testing.T) {
	tests := []struct {
		name        string
		backendErr  error
		method, url string
		body        string
		status      int
		msg         string // a substring of the error message
	}{
		{name: "unknown segment", method: "GET", url: "/v1/mac-table?segment=nope", status: 404, msg: "unknown segment nope"},
		{name: "unknown port counters", method: "GET", url: "/v1/counters?port=tap-x", status: 404, msg: "unknown port tap-x"},
		{name: "unknown query parameter", method: "GET", url: "/v1/mac-table?segmnet=web", status: 400, msg: `unknown query parameter "segmnet"`},
		{name: "unknown query parameter on vteps", method: "GET", url: "/v1/vxlan/vteps?vni=5001", status: 400, msg: `unknown query parameter "vni"`},
		{name: "unknown query parameter on bridge-domains", method: "GET", url: "/v1/bridge-domains?vni=5001", status: 400, msg: `unknown query parameter "vni"`},
		{name: "wrong method on vteps", method: "POST", url: "/v1/vxlan/vteps", status: 405, msg: "method POST not allowed"},
		{name: "wrong method on bridge-domains", method: "DELETE", url: "/v1/bridge-domains", status: 405, msg: "method DELETE not allowed"},
		{name: "vxlan without a view", method: "GET", url: "/v1/vxlan", status: 404, msg: "no such API endpoint: /v1/vxlan"},
		{name: "vteps backend failure", backendErr: errors.New("map lookup: bad fd"), method: "GET", url: "/v1/vxlan/vteps", status: 500, msg: "list VTEPs: map lookup: bad fd"},
		{name: "bridge-domains not available", backendErr: fmt.Errorf("no VXLAN: %w", api.ErrNotFound), method: "GET", url: "/v1/bridge-domains", status: 404, msg: "list bridge domains: no VXLAN: not found"},
		{name: "unknown query parameter on port-channels", method: "GET", url: "/v1/port-channels?name=po1", status: 400, msg: `unknown query parameter "name"`},
		{name: "unknown query parameter on lacp neighbors", method: "GET", url: "/v1/lacp/neighbors?interface=eth1", status: 400, msg: `unknown query parameter "interface"`},
		{name: "wrong method on lacp counters", method: "DELETE", url: "/v1/lacp/counters", status: 405, msg: "method DELETE not allowed"},
		{name: "wrong method on port-channels", method: "POST", url: "/v1/port-channels", status: 405, msg: "method POST not allowed"},
		{name: "lacp without a view", method: "GET", url: "/v1/lacp", status: 404, msg: "no such API endpoint: /v1/lacp"},
		{name: "port-channels backend failure", backendErr: errors.New("netlink: bad fd"), method: "GET", url: "/v1/port-channels", status: 500, msg: "list port-channels: netlink: bad fd"},
		{name: "lacp neighbors not available", backendErr: fmt.Errorf("no LACP port-channel: %w", api.ErrNotFound), method: "GET", url: "/v1/lacp/neighbors", status: 404, msg: "list LACP neighbors: no LACP port-channel: not found"},
		{name: "lacp counters backend failure", backendErr: errors.New("runner stopped"), method: "GET", url: "/v1/lacp/counters", status: 500, msg: "LACP counters: runner stopped"},
		{name: "repeated query parameter", method: "GET", url: "/v1/counters?port=a&port=b", status: 400, msg: `"port" given 2 times`},
		{name: "unknown path", method: "GET", url: "/v1/nope", status: 404, msg: "no such API endpoint: /v1/nope"},
		{name: "unknown version", method: "GET", url: "/v2/status", status: 404, msg: "no such API endpoint"},
		{name: "wrong method", method: "PUT", url: "/v1/ports", status: 405, msg: "method PUT not allowed"},
		{name: "detach unknown", method: "DELETE", url: "/v1/ports/tap-x", status: 404, msg: "no port on interface tap-x"},
		{name: "attach duplicate", method: "POST", url: "/v1/ports", body: `{"interface":"tap-a","mac":"52:54:00:00:00:0a","segment":"web"}`, status: 409, msg: "tap-a is already a port"},
		{name: "attach unknown segment", method: "POST", url: "/v1/ports", body: `{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"nope"}`, status: 404, msg: "unknown segment nope"},
		{name: "attach missing fields", method: "POST", url: "/v1/ports", body: `{"interface":"tap-b"}`, status: 400, msg: "missing mac, segment"},
		{name: "attach bad MAC", method: "POST", url: "/v1/ports", body: `{"interface":"tap-b","mac":"ff:ff:ff:ff:ff:ff","segment":"web"}`, status: 400, msg: "multicast"},
		{name: "attach unknown field", method: "POST", url: "/v1/ports", body: `{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"web","vlan":5}`, status: 400, msg: `unknown field "vlan"`},
		{name: "attach two values", method: "POST", url: "/v1/ports", body: `{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"web"} {}`, status: 400, msg: "more than one JSON value"},
		{name: "attach empty body", method: "POST", url: "/v1/ports", status: 400, msg: "empty request body"},
		{name: "attach not JSON", method: "POST", url: "/v1/ports", body: `interface=tap-b`, status: 400, msg: "decode request body"},
		{name: "attach key in another case", method: "POST", url: "/v1/ports", body: `{"Interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"web"}`, status: 400, msg: `unknown field "Interface" (field names are case-sensitive: did you mean "interface"?)`},
		{name: "attach key in capitals", method: "POST", url: "/v1/ports", body: `{"interface":"tap-b","MAC":"52:54:00:00:00:0b","segment":"web"}`, status: 400, msg: `unknown field "MAC"`},
		{name: "attach duplicate key", method: "POST", url: "/v1/ports", body: `{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"web","segment":"db"}`, status: 400, msg: `field "segment" given more than once`},
		{name: "attach duplicate key escaped", method: "POST", url: "/v1/ports", body: `{"interface":"tap-b","mac":"52:54:00:00:00:0b","m\u0061c":"52:54:00:00:00:0c","segment":"web"}`, status: 400, msg: `field "mac" given more than once`},
		{name: "attach duplicate key differing in case", method: "POST", url: "/v1/ports", body: `{"interface":"tap-b","mac":"52:54:00:00:00:0b","Mac":"52:54:00:00:00:0c","segment":"web"}`, status: 400, msg: `unknown field "Mac"`},
		{name: "attach trailing garbage", method: "POST", url: "/v1/ports", body: `{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"web"} x`, status: 400, msg: "data after the JSON value"},
		{name: "attach not an object", method: "POST", url: "/v1/ports", body: `["tap-b"]`, status: 400, msg: "cannot unmarshal array"},
		{name: "attach truncated", method: "POST", url: "/v1/ports", body: `{"interface":"tap-b"`, status: 400, msg: "unexpected end of JSON input"},
		{name: "attach wrong type", method: "POST", url: "/v1/ports", body: `{"interface":7,"mac":"52:54:00:00:00:0b","segment":"web"}`, status: 400, msg: "cannot unmarshal number"},
		{name: "attach not UTF-8", method: "POST", url: "/v1/ports", body: "{\"interface\":\"tap-\xff\",\"mac\":\"52:54:00:00:00:0b\",\"segment\":\"web\"}", status: 400, msg: "not valid UTF-8"},
		{name: "attach ips not a list", method: "POST", url: "/v1/ports", body: `{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"web","ips":"192.0.2.1"}`, status: 400, msg: "cannot unmarshal string"},
		{name: "attach bad IP", method: "POST", url: "/v1/ports", body: `{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"web","ips":["192.0.2.1","192.0.2.300"]}`, status: 400, msg: `ips[1]: invalid IP address "192.0.2.300"`},
		{name: "attach multicast IP", method: "POST", url: "/v1/ports", body: `{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"web","ips":["ff02::1"]}`, status: 400, msg: `ips[0]: IP address "ff02::1" is not a host address`},
		{name: "attach IP with a prefix", method: "POST", url: "/v1/ports", body: `{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"web","ips":["192.0.2.1/24"]}`, status: 400, msg: `invalid IP address "192.0.2.1/24"`},
		{name: "attach nested too deep", method: "POST", url: "/v1/ports", body: `{"ips":[[[[[[[[[[]]]]]]]]]]}`, status: 400, msg: "nests deeper than"},
		{name: "attach body too large", method: "POST", url: "/v1/ports", body: `{"interface":"` + strings.Repeat("x", api.MaxRequestBody) + `"}`, status: 413, msg: "larger than 65536 bytes"},
		{name: "backend failure", backendErr: errors.New("map update: no space left"), method: "GET", url: "/v1/ports", status: 500, msg: "list ports: map update: no space left"},
		{name: "backend invalid", backendErr: fmt.Errorf("profile shut: %w", api.ErrInvalid), method: "GET", url: "/v1/status", status: 400, msg: "profile shut: invalid request"},
		{name: "backend validation error", backendErr: &spec.ValidationError{Problems: []spec.Problem{{Field: "ports[0].segment", Msg: "no segment x"}}}, method: "GET", url: "/v1/segments", status: 400, msg: "ports[0].segment: no segment x"},
		{name: "backend conflict", backendErr: fmt.Errorf("reloading: %w", api.ErrConflict), method: "DELETE", url: "/v1/ports/tap-a", status: 409, msg: "reloading: conflict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := fixture()
			b.Err = tt.backendErr
			hc := rawClient(apitest.Serve(t, b))
			req, err := http.NewRequest(tt.method, "http://agent"+tt.url, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var body struct{ Error string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("decode error body: %v", err)
			}
			if !strings.Contains(body.Error, tt.msg) {
				t.Errorf("error %q, want it to contain %q", body.Error, tt.msg)
			}
		})
	}
}

func TestServerAllowHeader(t *testing.T) {
	hc := rawClient(apitest.Serve(t, fixture()))
	req, _ := http.NewRequest(http.MethodGet, "http://agent/v1/ports/tap-a", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "DELETE" {
		t.Errorf("GET on a port: status %d, Allow %q; want 405, DELETE", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestServerEmptyListsAreArrays(t *testing.T) {
	hc := rawClient(apitest.Serve(t, &apitest.Backend{}))
	for _, path := range []string{"/v1/ports", "/v1/mac-table", "/v1/segments", "/v1/bridge-domains", "/v1/port-channels", "/v1/lacp/neighbors", "/v1/lacp/counters", "/v1/counters"} {
		resp, err := hc.Get("http://agent" + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "[]\n" {
			t.Errorf("GET %s: body %q, want []", path, body)
		}
	}
}

func TestServerNoVTEPs(t *testing.T) {
	// No VTEP configured: no local address, and the remote list is [],
	// not null.
	hc := rawClient(apitest.Serve(t, &apitest.Backend{}))
	resp, err := hc.Get("http://agent/v1/vxlan/vteps")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"remote":[]}` + "\n"; string(body) != want {
		t.Errorf("body %q, want %q", body, want)
	}
}

func TestClientErrorStatus(t *testing.T) {
	tests := []struct {
		status   int
		sentinel error
	}{
		{http.StatusBadRequest, api.ErrInvalid},
		{http.StatusRequestEntityTooLarge, api.ErrInvalid},
		{http.StatusNotFound, api.ErrNotFound},
		{http.StatusConflict, api.ErrConflict},
		{http.StatusInternalServerError, nil},
	}
	sentinels := []error{api.ErrInvalid, api.ErrNotFound, api.ErrConflict, api.ErrNotRunning}
	for _, tt := range tests {
		err := &api.Error{Status: tt.status, Message: "m"}
		for _, s := range sentinels {
			if got, want := errors.Is(err, s), s == tt.sentinel; got != want {
				t.Errorf("status %d: errors.Is(%v) = %v, want %v", tt.status, s, got, want)
			}
		}
	}
}
