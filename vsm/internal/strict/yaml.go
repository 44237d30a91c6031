package strict

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/vem-switch/vem/spec"
)

// ErrEmpty is the error of a document that holds nothing.
var ErrEmpty = errors.New("empty document")

// YAML decodes the single YAML document in data into v, a pointer to a
// struct. Keys that name no field of v's type are refused, every one of
// them, as a *spec.ValidationError with their paths and lines, and so are
// values of the wrong type (yaml.v3 collects those); malformed YAML and a
// second document are plain errors. It returns the lines of v's fields.
func YAML(data []byte, v any, opts Options) (Lines, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decode YAML: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].ShortTag() == "!!null" {
		return nil, fmt.Errorf("decode YAML: %w", ErrEmpty)
	}
	w := yamlWalker{opts: opts, lines: Lines{}}
	root := doc.Content[0]
	w.lines[""] = root.Line
	if root.Kind != yaml.MappingNode {
		return nil, &spec.ValidationError{Problems: []spec.Problem{{Line: root.Line, Msg: "want a mapping of fields"}}}
	}
	w.walk(root, reflect.TypeOf(v), "")
	if len(w.problems) > 0 {
		return nil, validationError(w.problems)
	}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // also inside aliases and merges, which the walk skips
	if err := dec.Decode(v); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, w.lines.typeErrors(te)
		}
		return nil, fmt.Errorf("decode YAML: %w", err)
	}
	switch err := dec.Decode(new(yaml.Node)); {
	case err == nil:
		return nil, errors.New("decode YAML: more than one document; want one")
	case !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("decode YAML: %w", err)
	}
	return w.lines, nil
}

type yamlWalker struct {
	opts     Options
	lines    Lines
	problems []problem
}

// walk records the line of every field and list element of n, which
// decodes into t, and the problem of every key t has no field for.
// Aliases are not followed (they may nest exponentially; the strict
// decoder still checks what they expand to) and mismatched kinds are left
// to the decoder's type errors.
func (w *yamlWalker) walk(n *yaml.Node, t reflect.Type, path string) {
	t = deref(t)
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			if key.Kind != yaml.ScalarNode {
				w.problems = append(w.problems, problem{line: key.Line, field: join(path, "(non-scalar key)"), msg: "keys are field names"})
				continue
			}
			if key.Value == "<<" { // a merge key
				continue
			}
			f, ok := field(t, "yaml", key.Value)
			if !ok {
				w.problems = append(w.problems, w.opts.unknown(path, key.Value, t, "yaml", key.Line))
				continue
			}
			name := join(path, key.Value)
			w.lines[name] = key.Line
			w.walk(val, f.Type, name)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, e := range n.Content {
			elem := index(path, i)
			w.lines[elem] = e.Line
			w.walk(e, t.Elem(), elem)
		}
	}
}

var yamlLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// typeErrors turns the decoder's type errors ("line 7: cannot unmarshal
// !!str `x` into int") into problems on the field of their line.
func (l Lines) typeErrors(te *yaml.TypeError) error {
	var ps []problem
	for _, e := range te.Errors {
		p := problem{msg: e}
		if m := yamlLineRE.FindStringSubmatch(e); m != nil {
			p.line, _ = strconv.Atoi(m[1])
			p.msg = m[2]
			p.field = l.fieldAt(p.line)
		}
		ps = append(ps, p)
	}
	return validationError(ps)
}

func validationError(ps []problem) *spec.ValidationError {
	out := make([]spec.Problem, len(ps))
	for i, p := range ps {
		out[i] = spec.Problem{Line: p.line, Field: p.field, Msg: p.msg}
	}
	slices.SortStableFunc(out, func(a, b spec.Problem) int { return a.Line - b.Line })
	return &spec.ValidationError{Problems: out}
}
