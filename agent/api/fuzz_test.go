package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/spec"
)

// FuzzAttach sends arbitrary bodies to POST /v1/ports, the entry point a
// libvirt hook scripts against. Whatever arrives, the server answers a
// 2xx or a 4xx whose JSON body names the problem, never a 5xx or a panic,
// and it attaches a port only for a request that names every field and a
// valid MAC.
//
//	go test -run='^$' -fuzz=FuzzAttach ./agent/api/
func FuzzAttach(f *testing.F) {
	for _, seed := range []string{
		`{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"web"}`,
		`{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"web","profile":"open"}`,
		`{"interface":"tap-b","mac":"zz","segment":"web"}`,
		`{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"nosuch"}`,
		`{"interface":"tap-a","mac":"52:54:00:00:00:0a","segment":"web"}`,
		`{"interface":"tap-b"}`,
		`{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"web","extra":1}`,
		`{} {}`,
		`[`,
		``,
		`{"mac":"01:00:5e:00:00:01","interface":"x","segment":"web"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		b := fixture()
		before := len(b.PortList)
		srv := api.NewServer(b, nil)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/ports", strings.NewReader(body)))

		switch code := rec.Code; {
		case code >= 200 && code < 300:
			var req api.AttachRequest
			dec := json.NewDecoder(strings.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				t.Fatalf("status %d for a body that does not decode (%v): %q", code, err, body)
			}
			if _, err := spec.ParseMAC(req.MAC); err != nil || req.Interface == "" || req.Segment == "" {
				t.Fatalf("status %d attached an invalid request %+v", code, req)
			}
			if len(b.PortList) != before+1 {
				t.Fatalf("status %d but %d ports, want %d", code, len(b.PortList), before+1)
			}
		case code >= 400 && code < 500:
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("status %d with body %q: want a JSON error that names the problem", code, rec.Body)
			}
			if len(b.PortList) != before {
				t.Fatalf("rejected request (%d %s) changed the ports", code, e.Error)
			}
		default:
			t.Fatalf("status %d for body %q: %s", code, body, rec.Body)
		}
	})
}
