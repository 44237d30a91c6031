package strict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"unicode/utf8"

	"github.com/vem-switch/vem/spec"
)

// MaxDepth bounds how deeply a JSON document nests; the deepest field of a
// network definition is four levels down.
const MaxDepth = 12

// JSON decodes the single JSON value in data into v, a pointer to a
// struct, more strictly than encoding/json: field names match v's JSON
// names exactly (encoding/json would take "VLAN" for "vlan"), and a field
// given twice or naming nothing is refused, every one of them, as a
// *spec.ValidationError with their paths and lines; so is a value of the
// wrong type. A body that is not UTF-8, malformed JSON, or anything after
// the value are plain errors. It returns the lines of v's fields.
func JSON(data []byte, v any, opts Options) (Lines, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("decode JSON: %w", ErrEmpty)
	}
	if !utf8.Valid(data) {
		return nil, errors.New("decode JSON: not valid UTF-8")
	}
	w := jsonWalker{opts: opts, data: data, lines: Lines{}, line: 1}
	w.dec = json.NewDecoder(bytes.NewReader(data))
	w.dec.UseNumber()
	tok, err := w.token()
	if err != nil {
		return nil, err
	}
	w.lines[""] = w.lineAt(w.dec.InputOffset() - 1)
	switch tok {
	case json.Delim('{'):
	case nil:
		return nil, fmt.Errorf("decode JSON: %w", ErrEmpty)
	default:
		return nil, &spec.ValidationError{Problems: []spec.Problem{{Line: w.lines[""], Msg: "want a JSON object"}}}
	}
	if err := w.object(reflect.TypeOf(v), "", 1); err != nil {
		return nil, err
	}
	if _, err := w.dec.Token(); err != io.EOF {
		if err == nil {
			return nil, errors.New("decode JSON: more than one JSON value")
		}
		return nil, fmt.Errorf("decode JSON: data after the value: %w", err)
	}
	if len(w.problems) > 0 {
		return nil, validationError(w.problems)
	}

	// The walk has checked the field names; now the types.
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, validationError([]problem{{
				line:  w.lineAt(te.Offset - 1),
				field: te.Field,
				msg:   fmt.Sprintf("want %s, not a JSON %s", jsonKind(te.Type), te.Value),
			}})
		}
		return nil, fmt.Errorf("decode JSON: %w", err)
	}
	return w.lines, nil
}

type jsonWalker struct {
	opts     Options
	data     []byte
	dec      *json.Decoder
	lines    Lines
	problems []problem
	// line is the line of offset seen, so that lineAt counts newlines
	// once: offsets only grow.
	line int
	seen int64
}

func (w *jsonWalker) token() (json.Token, error) {
	tok, err := w.dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("decode JSON: unexpected end of input")
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("decode JSON: line %d: %w", w.lineAt(se.Offset), err)
		}
		return nil, fmt.Errorf("decode JSON: %w", err)
	}
	return tok, nil
}

// lineAt returns the line of byte offset off, which is never before an
// offset asked for earlier, except by the type check after the walk.
func (w *jsonWalker) lineAt(off int64) int {
	off = min(max(off, 0), int64(len(w.data)))
	if off < w.seen {
		w.line, w.seen = 1, 0
	}
	w.line += bytes.Count(w.data[w.seen:off], []byte{'\n'})
	w.seen = off
	return w.line
}

// value checks the value whose first token dec is about to read; t is the
// Go type it decodes into (nil: anything).
func (w *jsonWalker) value(t reflect.Type, path string, depth int) error {
	tok, err := w.token()
	if err != nil {
		return err
	}
	w.lines[path] = w.lineAt(w.dec.InputOffset() - 1)
	switch tok {
	case json.Delim('{'):
		return w.object(t, path, depth+1)
	case json.Delim('['):
		return w.array(t, path, depth+1)
	}
	return nil
}

func (w *jsonWalker) array(t reflect.Type, path string, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("decode JSON: nests deeper than %d levels", MaxDepth)
	}
	var elem reflect.Type
	if t = deref(t); t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		elem = t.Elem()
	}
	for i := 0; w.dec.More(); i++ {
		if err := w.value(elem, index(path, i), depth); err != nil {
			return err
		}
	}
	_, err := w.token() // ]
	return err
}

// object checks the fields of an object whose '{' has been read.
func (w *jsonWalker) object(t reflect.Type, path string, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("decode JSON: nests deeper than %d levels", MaxDepth)
	}
	t = deref(t)
	seen := map[string]bool{}
	for w.dec.More() {
		tok, err := w.token()
		if err != nil {
			return err
		}
		key, _ := tok.(string) // inside an object the decoder yields keys as strings
		line := w.lineAt(w.dec.InputOffset() - 1)
		name := join(path, keyName(key))
		var ft reflect.Type
		switch {
		case seen[key]:
			w.problems = append(w.problems, problem{line: line, field: name, msg: "given more than once"})
		case t != nil && t.Kind() == reflect.Struct:
			f, ok := field(t, "json", key)
			if !ok {
				w.problems = append(w.problems, w.opts.unknown(path, key, t, "json", line))
			}
			ft = f.Type
		case t != nil && t.Kind() == reflect.Map:
			ft = t.Elem()
		}
		seen[key] = true
		w.lines[name] = line
		if err := w.value(ft, name, depth); err != nil {
			return err
		}
		w.lines[name] = line // the key's line, not its value's
	}
	_, err := w.token() // }
	return err
}

// jsonKind names what a Go type wants in JSON terms.
func jsonKind(t reflect.Type) string {
	switch deref(t).Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}
