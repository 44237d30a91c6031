// Package strict decodes the VSM's documents (its own file, network
// definitions, API bodies) in YAML or JSON more strictly than the
// decoders do on their own: every unknown or repeated field is refused,
// all of them at once, as a *spec.ValidationError whose problems name the
// field path ("segments[1].vlan") and the line it is written on, so that a
// later validation can place its own problems on lines too (Lines.Fill).
package strict

import (
	"strings"

	"github.com/vem-switch/vem/spec"
)

// Lines maps a field path such as "segments[1].vlan" to the line of the
// document it is written on; the root value is under "".
type Lines map[string]int

// Line returns the line of field, or of its nearest ancestor written in
// the document when the field itself is not (a missing required field is
// placed on the mapping that lacks it); 0 when nothing is known.
func (l Lines) Line(field string) int {
	for {
		if n, ok := l[field]; ok {
			return n
		}
		if field == "" {
			return 0
		}
		field = field[:max(strings.LastIndexAny(field, ".["), 0)]
	}
}

// Fill sets the Line of every problem that has none from its field.
func (l Lines) Fill(problems []spec.Problem) {
	for i := range problems {
		if problems[i].Line == 0 {
			problems[i].Line = l.Line(problems[i].Field)
		}
	}
}

// fieldAt returns the deepest field written on line, "" when none is: a
// decoder's type error names only a line, the problem wants a field too.
func (l Lines) fieldAt(line int) string {
	best := ""
	for f, n := range l {
		if n == line && (len(f) > len(best) || len(f) == len(best) && f < best) {
			best = f
		}
	}
	return best
}
