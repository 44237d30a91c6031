package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"
)

// MaxRequestBody bounds a request body; an attach request is a few
// hundred bytes.
const MaxRequestBody = 64 << 10

// Server serves the local API of one agent over HTTP/JSON.
type Server struct {
	backend Backend
	log     *zap.Logger
	mux     *http.ServeMux
	http    *http.Server
}

// NewServer returns a server that answers from b. A nil log discards.
func NewServer(b Backend, log *zap.Logger) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{backend: b, log: log, mux: http.NewServeMux()}
	s.routes()
	s.http = &http.Server{
		Handler: s,
		// The socket is local, but a stuck client must not pin a goroutine.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          zap.NewStdLog(log),
		// Every request carries its caller's credentials (PeerFrom).
		ConnContext: s.connContext,
	}
	return s
}

// Serve answers requests on ln until Shutdown or Close, and then returns
// nil; any other error ends it too and is returned.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve API on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Shutdown stops accepting requests and waits, up to ctx's deadline, for
// those in flight to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.http.Shutdown(ctx)
}

// Close stops the server at once, dropping requests in flight.
func (s *Server) Close() error {
	return s.http.Close()
}

// ServeHTTP answers one request, so a Server also mounts in another mux.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// endpoint answers a request with a value to encode as JSON, or nil for
// 204 No Content.
type endpoint func(r *http.Request) (any, error)

// methods is a path's endpoints by method. The mux routes paths only, so
// that a wrong method, like everything else, is answered in JSON.
type methods map[string]endpoint

func (s *Server) routes() {
	s.mux.Handle("/v1/status", s.handle(methods{http.MethodGet: s.status}))
	s.mux.Handle("/v1/dpa", s.handle(methods{http.MethodGet: s.dpa}))
	s.mux.Handle("/v1/ports", s.handle(methods{http.MethodGet: s.ports, http.MethodPost: s.attach}))
	s.mux.Handle("/v1/ports/{interface}", s.handle(methods{http.MethodDelete: s.detach}))
	s.mux.Handle("/v1/ports/{interface}/announce", s.handle(methods{http.MethodPost: s.announce}))
	s.mux.Handle("/v1/mac-table", s.handle(methods{http.MethodGet: s.macTable}))
	s.mux.Handle("/v1/segments", s.handle(methods{http.MethodGet: s.segments}))
	s.mux.Handle("/v1/vxlan/vteps", s.handle(methods{http.MethodGet: s.vteps}))
	s.mux.Handle("/v1/bridge-domains", s.handle(methods{http.MethodGet: s.bridgeDomains}))
	s.mux.Handle("/v1/port-channels", s.handle(methods{http.MethodGet: s.portChannels}))
	s.mux.Handle("/v1/lacp/neighbors", s.handle(methods{http.MethodGet: s.lacpNeighbors}))
	s.mux.Handle("/v1/lacp/counters", s.handle(methods{http.MethodGet: s.lacpCounters}))
	s.mux.Handle("/v1/counters", s.handle(methods{http.MethodGet: s.counters}))
	s.mux.Handle("/v1/port-security", s.handle(methods{http.MethodGet: s.portSecurity}))
	s.mux.Handle("/v1/port-security/{port}", s.handle(methods{http.MethodGet: s.portSecurity}))
	s.mux.Handle("GET /v1/handover", s.handle(methods{http.MethodGet: s.handoverStatus}))
	s.mux.HandleFunc("POST /v1/handover", s.handover)
	s.mux.Handle("/", s.handle(nil))
}

func (s *Server) handle(m methods) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBody)
		body, err := s.dispatch(m, w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if body == nil {
			s.log.Debug("api request", requestFields(r, http.StatusNoContent)...)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		s.writeJSON(w, r, http.StatusOK, body)
	})
}

func (s *Server) dispatch(m methods, w http.ResponseWriter, r *http.Request) (any, error) {
	if m == nil {
		return nil, &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no such API endpoint: %s", r.URL.Path)}
	}
	ep, ok := m[r.Method]
	if !ok {
		for method := range m {
			w.Header().Add("Allow", method)
		}
		return nil, &Error{Status: http.StatusMethodNotAllowed, Message: fmt.Sprintf("method %s not allowed on %s", r.Method, r.URL.Path)}
	}
	return ep(r)
}

func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	// Encode first, so an encoding failure can still become a 500.
	data, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("encode response: %w", err))
		return
	}
	s.log.Debug("api request", requestFields(r, status)...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if _, err := w.Write(append(data, '\n')); err != nil {
		s.log.Debug("write API response", zap.String(logPath, r.URL.Path), zap.Error(err))
	}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	log := s.log.Info
	if status >= http.StatusInternalServerError {
		log = s.log.Error
	}
	log("api request failed", append(requestFields(r, status), zap.Error(err))...)
	data, _ := json.Marshal(errorBody{Error: err.Error()}) // a struct of one string always encodes
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// query returns r's query parameters after checking that it has no others
// than allowed, so that a misspelt filter is an error rather than
// silently ignored.
func query(r *http.Request, allowed ...string) (map[string]string, error) {
	q := r.URL.Query()
	out := make(map[string]string, len(allowed))
	for k, v := range q {
		if !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("%w: unknown query parameter %q", ErrInvalid, k)
		}
		if len(v) > 1 {
			return nil, fmt.Errorf("%w: query parameter %q given %d times", ErrInvalid, k, len(v))
		}
		out[k] = v[0]
	}
	return out, nil
}

// requestFields are the log fields of a request answered with status:
// what was asked and by whom.
func requestFields(r *http.Request, status int) []zap.Field {
	return append([]zap.Field{zap.String(logMethod, r.Method), zap.String(logPath, r.URL.Path), zap.Int(logStatus, status)},
		peerFields(r.Context())...)
}
