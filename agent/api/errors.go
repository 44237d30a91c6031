package api

import (
	"errors"
	"net/http"

	"github.com/vem-switch/vem/spec"
)

// Sentinel errors a Backend wraps (fmt.Errorf("...: %w", ErrNotFound)) so
// the server answers with a fitting status, and that a Client's errors
// match with errors.Is.
var (
	// ErrInvalid marks a malformed request: 400 Bad Request.
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound marks an unknown port or segment: 404 Not Found.
	ErrNotFound = errors.New("not found")
	// ErrConflict marks a request that contradicts the current state, such
	// as attaching an interface that is already a port: 409 Conflict.
	ErrConflict = errors.New("conflict")
	// ErrNotRunning marks a Client that found no agent on its socket.
	ErrNotRunning = errors.New("vem-agent is not running")
)

// Error is an error the agent answered with: the HTTP status and the
// message of its {"error": "..."} body.
type Error struct {
	Status  int
	Message string
}

// Error returns the agent's message.
func (e *Error) Error() string { return e.Message }

// Is matches the sentinel error of e's status, so errors.Is(err,
// ErrNotFound) holds on either side of the socket.
func (e *Error) Is(target error) bool {
	switch e.Status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return target == ErrInvalid
	case http.StatusNotFound:
		return target == ErrNotFound
	case http.StatusConflict:
		return target == ErrConflict
	}
	return false
}

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error string `json:"error"`
}

// statusOf maps an error to the HTTP status the server answers with.
func statusOf(err error) int {
	var ve *spec.ValidationError
	var he *Error
	switch {
	case errors.As(err, &he):
		return he.Status
	case errors.Is(err, ErrInvalid), errors.As(err, &ve):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}
