package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vem-switch/vem/agent/api"
)

// FuzzAnnounce sends arbitrary bodies to POST /v1/ports/{interface}/announce
// (vem-libvirt's and vemctl's). Whatever arrives, the server answers a
// 2xx or a 4xx whose JSON body names the problem, never a 5xx or a panic,
// and it asks the backend only for an empty body or an object with at
// most pendingOnly, spelt exactly, once, a boolean.
//
//	go test -run='^$' -fuzz=FuzzAnnounce ./agent/api/
func FuzzAnnounce(f *testing.F) {
	for _, seed := range []string{
		``, ` `, `{}`, `{"pendingOnly":true}`, `{"pendingOnly":false}`, `{"pendingonly":true}`,
		`{"pendingOnly":1}`, `{"pendingOnly":true,"pendingOnly":false}`, `{"x":1}`, `{} {}`, `[`, `null`,
		`{"pendingOnly":true} x`, "\xff",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		b := &announceBackend{Backend: fixture()}
		srv := api.NewServer(b, nil)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/ports/tap-a/announce", strings.NewReader(body)))
		switch code := rec.Code; {
		case code >= 200 && code < 300:
			if len(b.calls) != 1 {
				t.Fatalf("status %d with %d backend calls", code, len(b.calls))
			}
			if trimmed := bytes.TrimSpace([]byte(body)); len(trimmed) > 0 {
				var m map[string]json.RawMessage
				if err := json.Unmarshal(trimmed, &m); err != nil {
					t.Fatalf("status %d for a body that is no JSON object: %q", code, body)
				}
				for k, v := range m {
					if k != "pendingOnly" || (string(v) != "true" && string(v) != "false") {
						t.Fatalf("status %d for field %q = %s", code, k, v)
					}
				}
			}
		case code >= 400 && code < 500:
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("status %d with body %q: want a JSON error that names the problem", code, rec.Body)
			}
			if len(b.calls) != 0 {
				t.Fatalf("status %d but the backend was asked: %v", code, b.calls)
			}
		default:
			t.Fatalf("status %d for body %q", code, body)
		}
	})
}
