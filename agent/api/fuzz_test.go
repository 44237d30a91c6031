package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/spec"
)

// FuzzAttach sends arbitrary bodies to POST /v1/ports, the entry point a
// libvirt hook scripts against. Whatever arrives, the server answers a
// 2xx or a 4xx whose JSON body names the problem, never a 5xx or a panic,
// and it attaches a port only for a request that names every required
// field once, exactly as spelt, with a valid MAC and valid IPs, and
// nothing else.
//
//	go test -run='^$' -fuzz=FuzzAttach ./agent/api/
func FuzzAttach(f *testing.F) {
	for _, seed := range []string{
		`{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"web"}`,
		`{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"web","profile":"open"}`,
		`{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"web","ips":["192.0.2.1","2001:db8::1"]}`,
		`{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"web","ips":["192.0.2.1/24"]}`,
		`{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"web","ips":null}`,
		`{"interface":"tap-b","mac":"zz","segment":"web"}`,
		`{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"nosuch"}`,
		`{"interface":"tap-a","mac":"52:54:00:00:00:0a","segment":"web"}`,
		`{"interface":"tap-b"}`,
		`{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"web","extra":1}`,
		`{"Interface":"tap-b","MAC":"52:54:00:00:00:0b","Segment":"web"}`,
		`{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"nosuch","segment":"web"}`,
		`{"interface":"tap-b","mac":"52:54:00:00:00:0b","segm\u0065nt":"web"}`,
		`{"interface":"tap-b","mac":"52:54:00:00:00:0b","segment":"web"} x`,
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
			req, err := strictOracle(body)
			if err != "" {
				t.Fatalf("status %d for a body the strict rules refuse (%s): %q", code, err, body)
			}
			if _, err := spec.ParseMAC(req.MAC); err != nil || req.Interface == "" || req.Segment == "" {
				t.Fatalf("status %d attached an invalid request %+v", code, req)
			}
			for _, ip := range req.IPs {
				if err := api.CheckPortIP(ip); err != nil {
					t.Fatalf("status %d attached a port with %v", code, err)
				}
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

// strictOracle decodes body as an attach request by the strict rules,
// independently of the server: one JSON object, UTF-8, whose keys are
// among the request's exact names, each at most once, and nothing after
// it. It returns the request, or why the body breaks the rules.
func strictOracle(body string) (api.AttachRequest, string) {
	var req api.AttachRequest
	if !utf8.ValidString(body) {
		return req, "not UTF-8"
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(body))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return req, "not a JSON object"
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, "data after the object"
	}
	// Count the keys as written: a map keeps only the last of duplicates.
	keys := 0
	top := json.NewDecoder(strings.NewReader(body))
	_, _ = top.Token() // {
	for top.More() {
		if _, err := top.Token(); err != nil {
			return req, "bad key"
		}
		var skip json.RawMessage
		if err := top.Decode(&skip); err != nil {
			return req, "bad value"
		}
		keys++
	}
	if keys != len(fields) {
		return req, "a duplicate key"
	}
	for k := range fields {
		if !slices.Contains([]string{"interface", "mac", "segment", "profile", "ips"}, k) {
			return req, "unknown key " + k
		}
	}
	strict := json.NewDecoder(bytes.NewReader([]byte(body)))
	strict.DisallowUnknownFields()
	if err := strict.Decode(&req); err != nil {
		return req, err.Error()
	}
	return req, ""
}
