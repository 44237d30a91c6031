package api_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"testing"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/api/apitest"
)

var portSecurityFixture = []api.PortSecurity{
	{Name: "Vethernet1", Interface: "tap-a", MAC: "52:54:00:00:00:0a", Profile: "web", PortSecurity: true, Bound: true,
		Addresses:           []string{"192.0.2.11"},
		AllowedAddressPairs: []api.AddressPair{{IP: "198.51.100.0/24", MAC: "52:54:00:00:01:0a"}},
		AllowLinkLocal:      []string{"lldp"},
		StormControl:        api.StormControl{Broadcast: 1000, Multicast: 2000, UnknownUnicast: 1000},
		Drops:               map[string]uint64{"spoofed-source": 3}},
	// As a backend may hand it out: lists and drops nil.
	{Name: "Vethernet2", Interface: "tap-b", MACLimit: &api.MACLimit{Max: 64, Learned: 2}},
}

// TestServerPortSecurity checks both routes of the port-security view:
// every vEth, one by name or interface, and an unknown port, and that
// the lists a backend leaves nil arrive as [] and {}.
func TestServerPortSecurity(t *testing.T) {
	c := api.NewClient(apitest.Serve(t, &apitest.Backend{PortSecurityList: portSecurityFixture}))
	filled := api.PortSecurity{Name: "Vethernet2", Interface: "tap-b", MACLimit: &api.MACLimit{Max: 64, Learned: 2},
		Addresses: []string{}, AllowedAddressPairs: []api.AddressPair{}, AllowLinkLocal: []string{}, Drops: map[string]uint64{}}
	tests := []struct {
		name, port string
		want       []api.PortSecurity
		err        error
		msg        string
	}{
		{name: "every vEth", want: []api.PortSecurity{portSecurityFixture[0], filled}},
		{name: "by name", port: "Vethernet1", want: portSecurityFixture[:1]},
		{name: "by interface", port: "tap-b", want: []api.PortSecurity{filled}},
		{name: "unknown", port: "tap-x", err: api.ErrNotFound, msg: "port security of port tap-x: unknown port tap-x: not found"},
		{name: "not a path segment", port: "a/b", err: api.ErrNotFound, msg: "port security of port a/b: no such vEth: not found"},
		{name: "dot dot", port: "..", err: api.ErrNotFound},
		{name: "escaped", port: "tap%41 x", err: api.ErrNotFound, msg: "port security of port tap%41 x: unknown port tap%41 x: not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.PortSecurity(context.Background(), tt.port)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Errorf("error %q, want %q", err, tt.msg)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestServerPortSecurityRoutes(t *testing.T) {
	tests := []struct {
		name, method, url string
		backend           *apitest.Backend
		status            int
		body              string
	}{
		{"empty", "GET", "/v1/port-security", &apitest.Backend{}, 200, "[]\n"},
		{"one port", "GET", "/v1/port-security/tap-b", &apitest.Backend{PortSecurityList: portSecurityFixture[1:]}, 200,
			`[{"name":"Vethernet2","interface":"tap-b","portSecurity":false,"trusted":false,"addresses":[],"allowedAddressPairs":[],` +
				`"bound":false,"allowLinkLocal":[],"macLimit":{"max":64,"learned":2},` +
				`"stormControl":{"broadcast":0,"multicast":0,"unknownUnicast":0},"drops":{}}]` + "\n"},
		{"unknown port", "GET", "/v1/port-security/tap-x", &apitest.Backend{}, 404,
			`{"error":"port security of port tap-x: unknown port tap-x: not found"}` + "\n"},
		{"query parameter", "GET", "/v1/port-security?port=tap-a", &apitest.Backend{}, 400,
			`{"error":"invalid request: unknown query parameter \"port\""}` + "\n"},
		{"wrong method", "DELETE", "/v1/port-security/tap-a", &apitest.Backend{}, 405,
			`{"error":"method DELETE not allowed on /v1/port-security/tap-a"}` + "\n"},
		{"backend failure", "GET", "/v1/port-security", &apitest.Backend{Err: errors.New("map lookup: bad fd")}, 500,
			`{"error":"port security of all ports: map lookup: bad fd"}` + "\n"},
		{"trailing slash", "GET", "/v1/port-security/", &apitest.Backend{}, 404,
			`{"error":"no such API endpoint: /v1/port-security/"}` + "\n"},
		{"below a port", "GET", "/v1/port-security/tap-a/x", &apitest.Backend{}, 404,
			`{"error":"no such API endpoint: /v1/port-security/tap-a/x"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := rawClient(apitest.Serve(t, tt.backend))
			req, err := http.NewRequest(tt.method, "http://agent"+tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || string(body) != tt.body {
				t.Errorf("status %d, body %s; want %d, %s", resp.StatusCode, body, tt.status, tt.body)
			}
		})
	}
}
