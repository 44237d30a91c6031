package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Reasons a session or a message is refused. Errors of this package wrap
// one of them, on the side that refuses and, through the gRPC status the
// refusing side sends, on the refused side too: test with errors.Is.
var (
	// ErrDomain: the message names another domain ID.
	ErrDomain = errors.New("wrong domain")
	// ErrVersion: the peer speaks an incompatible protocol version.
	ErrVersion = errors.New("unsupported protocol version")
	// ErrIdentity: the peer's certificate does not name what it claims to
	// be (a VEM's host, a VSM's name, or the wrong kind of peer).
	ErrIdentity = errors.New("peer identity refused")
	// ErrMalformed: a message is invalid in its direction or its fields.
	ErrMalformed = errors.New("malformed message")
	// ErrTooLarge: a message or a snapshot exceeds its size limit.
	ErrTooLarge = errors.New("message too large")
	// ErrBusy: the control queue is full because the peer stopped reading,
	// or the VSM serves as many sessions as it may.
	ErrBusy = errors.New("peer not keeping up")
	// ErrClosed: the session has ended.
	ErrClosed = errors.New("session closed")
)

// codeOf maps a refusal to the gRPC status code that carries it.
var refusalCodes = []struct {
	err  error
	code codes.Code
}{
	{ErrDomain, codes.PermissionDenied},
	{ErrVersion, codes.FailedPrecondition},
	{ErrIdentity, codes.Unauthenticated},
	{ErrMalformed, codes.InvalidArgument},
	{ErrTooLarge, codes.OutOfRange},
	{ErrBusy, codes.ResourceExhausted},
}

// toStatus turns the reason a session ended into the status the server
// returns to the VEM.
func toStatus(err error) error {
	if err == nil || errors.Is(err, ErrClosed) {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, r := range refusalCodes {
		if errors.Is(err, r.err) {
			return status.Error(r.code, err.Error())
		}
	}
	if errors.Is(err, context.Canceled) {
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}

// PeerError is a refusal the peer sent as a gRPC status. errors.Is
// matches it against the refusal its code stands for (ErrDomain ...).
type PeerError struct {
	Code    codes.Code
	Message string
}

// Error reports the peer's status message.
func (e *PeerError) Error() string {
	return fmt.Sprintf("peer refused (%s): %s", e.Code, e.Message)
}

// Is reports whether the peer's status code stands for target.
func (e *PeerError) Is(target error) bool {
	for _, r := range refusalCodes {
		if r.err == target {
			return r.code == e.Code
		}
	}
	return false
}

// fromStream turns an error from a stream's Recv or Send into this
// package's terms: io.EOF and cancellation into ErrClosed, a gRPC status
// into a *PeerError.
func fromStream(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: peer ended the stream", ErrClosed)
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.OK:
		return fmt.Errorf("%w: peer ended the stream", ErrClosed)
	case codes.Canceled:
		return fmt.Errorf("%w: %s", ErrClosed, st.Message())
	case codes.ResourceExhausted:
		if strings.Contains(st.Message(), "larger than max") {
			// gRPC's own refusal of an oversized message.
			return fmt.Errorf("%w: %s", ErrTooLarge, st.Message())
		}
	case codes.Internal:
		if strings.Contains(st.Message(), "unmarshal") {
			// gRPC could not decode what came in.
			return fmt.Errorf("%w: %s", ErrMalformed, st.Message())
		}
	}
	return &PeerError{Code: st.Code(), Message: st.Message()}
}
