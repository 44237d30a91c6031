package spec

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// lineIndex maps a field path such as "segments[1].vlan" to the YAML line
// it is written on. The root mapping is under "".
type lineIndex map[string]int

// indexLines walks the document alongside the Go type it decodes into,
// recording the line of every field and list element. Keys that name no
// field are returned as problems, so that unknown fields are reported like
// any other problem, with their field path (the decoder names only the Go
// type they were not found in).
func indexLines(doc *yaml.Node) (lineIndex, []Problem) {
	w := lineWalker{lines: lineIndex{}}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root := doc.Content[0]
		w.lines[""] = root.Line
		w.walk(root, reflect.TypeFor[Switch](), "")
	}
	return w.lines, w.unknown
}

type lineWalker struct {
	lines   lineIndex
	unknown []Problem
}

func (w *lineWalker) walk(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	// Aliases are not followed: they may nest exponentially, and the strict
	// decoder still checks what they expand to. Mismatched kinds are left
	// to the decoder's type errors too.
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			if key.Value == "<<" { // merge key
				continue
			}
			field := keyName(key)
			if path != "" {
				field = path + "." + field
			}
			f, ok := fieldByTag(t, key.Value)
			if !ok {
				w.unknown = append(w.unknown, Problem{
					Line:  key.Line,
					Field: field,
					Msg:   fmt.Sprintf("unknown field (want one of %s)", strings.Join(yamlNames(t), ", ")),
				})
				continue
			}
			w.lines[field] = key.Line
			w.walk(val, f.Type, field)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, e := range n.Content {
			elem := fmt.Sprintf("%s[%d]", path, i)
			w.lines[elem] = e.Line
			w.walk(e, t.Elem(), elem)
		}
	}
}

// keyName renders a mapping key for a field path: a field name as is,
// anything else quoted so that the path stays readable and unambiguous.
func keyName(key *yaml.Node) string {
	switch {
	case key.Kind != yaml.ScalarNode:
		return "(non-scalar key)"
	case key.Value == "" || strings.ContainsFunc(key.Value, func(r rune) bool {
		return !unicode.IsPrint(r) || unicode.IsSpace(r) || strings.ContainsRune(`.[]"`, r)
	}):
		return strconv.Quote(key.Value)
	}
	return key.Value
}

// fieldByTag finds the struct field whose yaml tag names key.
func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if yamlName(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// yamlNames lists the keys a struct type accepts, in field order.
func yamlNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			names = append(names, name)
		}
	}
	return names
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}

// line returns the line of field, or of its nearest ancestor written in
// the file when the field itself is not (a missing required field is
// reported on the line of the mapping that lacks it).
func (ix lineIndex) line(field string) int {
	for {
		if l, ok := ix[field]; ok {
			return l
		}
		if field == "" {
			return 0
		}
		field = field[:max(strings.LastIndexAny(field, ".["), 0)]
	}
}
