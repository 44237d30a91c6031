package store

import (
	"errors"
	"strings"

	"github.com/vem-switch/vem/spec"
)

// Errors the store's methods wrap, to be told apart with errors.Is. A
// change that breaks the network's own rules is a *spec.ValidationError;
// one that contradicts bound ports or what exists is a *ConflictError.
var (
	// ErrNotFound: no object of that name.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the change contradicts the VSM's state, such as
	// deleting a segment a bound port uses.
	ErrConflict = errors.New("conflict")
	// ErrReadOnly: dynamic port profiles are the VSM's own; nobody edits
	// them.
	ErrReadOnly = errors.New("read-only")
	// ErrCompacted: the changes asked for are older than the change log
	// keeps; start again from a Snapshot.
	ErrCompacted = errors.New("changes compacted")
	// ErrSchema: the data file was written by an incompatible version.
	ErrSchema = errors.New("incompatible data file schema")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("store closed")
)

// ConflictError is a change refused because of the state it would break:
// each problem names the field of the request at fault (or the section
// of what the request would delete) and says what it conflicts with.
type ConflictError struct {
	Problems []spec.Problem
}

// Error lists the problems one per line.
func (e *ConflictError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap makes errors.Is(err, ErrConflict) hold.
func (e *ConflictError) Unwrap() error { return ErrConflict }

func conflict(field, msg string) *ConflictError {
	return &ConflictError{Problems: []spec.Problem{{Field: field, Msg: msg}}}
}

// locator names the field of a request that a binding problem concerns:
// the object at fault as the request wrote it, or the section of a
// request that deleted it. Nil locates by section only.
type locator func(p bindingProblem) string

// sections name the part of a network definition each kind is in.
var sections = map[Kind]string{KindSegment: "segments", KindProfile: "profiles", KindPort: "ports"}

func conflictOf(problems []bindingProblem, locate locator) *ConflictError {
	e := &ConflictError{}
	for _, p := range problems {
		field := ""
		if locate != nil {
			field = locate(p)
		}
		if field == "" {
			field = sections[p.kind]
		}
		e.Problems = append(e.Problems, spec.Problem{Field: field, Msg: p.msg})
	}
	return e
}
