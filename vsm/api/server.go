package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/store"
)

// ReplicatedHeader is "false" on the answer to a change the standby
// did not acknowledge in time.
const ReplicatedHeader = "X-Vsm-Replicated"

// MaxRequestBody bounds a request body: a full sync of some ten thousand
// ports.
const MaxRequestBody = 16 << 20

// Server serves the northbound API of one VSM from its store.
type Server struct {
	store *store.Store
	info  Info
	log   *zap.Logger
	mux   *http.ServeMux
	http  *http.Server
}

// NewServer returns a server that answers from st. A nil log discards.
func NewServer(st *store.Store, info Info, log *zap.Logger) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{store: st, info: info, log: log, mux: http.NewServeMux()}
	s.routes()
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          zap.NewStdLog(log),
	}
	return s
}

// Serve answers requests on ln until Shutdown or Close, then returns nil;
// any other error ends it too and is returned.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve API on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Shutdown stops accepting requests and waits, up to ctx's deadline, for
// those in flight.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

// ServeHTTP answers one request, so a Server also mounts in another mux.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// endpoint answers a request with a value to encode as JSON.
type endpoint func(r *http.Request) (any, error)

// methods is a path's endpoints by method. The mux routes paths only, so
// that a wrong method, like everything else, is answered in JSON.
type methods map[string]endpoint

func (s *Server) handle(m methods) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBody)
		change := r.Method != http.MethodGet && r.Method != http.MethodHead && !strings.HasPrefix(r.URL.Path, "/v1/system/")
		if change && s.info.Writable != nil && m != nil && m[r.Method] != nil {
			if err := s.info.Writable(); err != nil {
				s.writeError(w, r, &Error{Status: http.StatusServiceUnavailable, Message: err.Error()})
				return
			}
		}
		body, err := s.dispatch(m, w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if change && s.info.Replicated != nil {
			// The HA pair: the change is acknowledged once the standby
			// holds it (or has fallen behind and will catch up).
			if !s.info.Replicated(r.Context(), s.store.Generation()) {
				w.Header().Set(ReplicatedHeader, "false")
			}
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
		for _, method := range slices.Sorted(maps.Keys(m)) {
			w.Header().Add("Allow", method)
		}
		return nil, &Error{Status: http.StatusMethodNotAllowed, Message: fmt.Sprintf("method %s not allowed on %s", r.Method, r.URL.Path)}
	}
	return ep(r)
}

func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("encode response: %w", err))
		return
	}
	s.log.Debug("api request", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", status))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(GenerationHeader, strconv.FormatUint(s.store.Generation(), 10))
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	body := ErrorBody{Error: err.Error(), Generation: s.store.Generation()}
	var ve *spec.ValidationError
	var ce *store.ConflictError
	var ps []spec.Problem
	switch {
	case errors.As(err, &ve):
		ps = ve.Problems
		body.Error = "invalid request"
	case errors.As(err, &ce):
		ps = ce.Problems
		body.Error = "conflict"
	}
	for _, p := range ps {
		body.Problems = append(body.Problems, Problem{Line: p.Line, Field: p.Field, Message: p.Msg})
	}
	if len(ps) > 0 {
		body.Error = fmt.Sprintf("%s: %s", body.Error, err.Error())
	}
	log := s.log.Info
	if status >= http.StatusInternalServerError {
		log = s.log.Error
	}
	log("api request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", status), zap.Error(err))
	if status == http.StatusMethodNotAllowed && errors.Is(err, store.ErrReadOnly) {
		w.Header().Set("Allow", http.MethodGet)
	}
	data, _ := json.Marshal(body) // strings and numbers always encode
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set(GenerationHeader, strconv.FormatUint(body.Generation, 10))
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// statusOf maps an error to the status the server answers with.
func statusOf(err error) int {
	var he *Error
	var ve *spec.ValidationError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		return he.Status
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &ve), errors.Is(err, errInvalid):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, store.ErrReadOnly):
		return http.StatusMethodNotAllowed
	case errors.Is(err, store.ErrCompacted):
		return http.StatusGone
	}
	return http.StatusInternalServerError
}

// errInvalid marks a malformed request that is not a validation error.
var errInvalid = errors.New("invalid request")

// readBody reads a request body, whose size handle has bounded.
func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body larger than %d bytes", tooBig.Limit)}
		}
		return nil, fmt.Errorf("%w: read request body: %w", errInvalid, err)
	}
	return data, nil
}

// query returns r's query parameters after checking it has no others than
// allowed, each at most once, so a misspelt one is an error.
func query(r *http.Request, allowed ...string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range r.URL.Query() {
		if !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("%w: unknown query parameter %q", errInvalid, k)
		}
		if len(v) > 1 {
			return nil, fmt.Errorf("%w: query parameter %q given %d times", errInvalid, k, len(v))
		}
		out[k] = v[0]
	}
	return out, nil
}
