package strict

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode"
)

// Options tune how a document is checked.
type Options struct {
	// Unknown, when set, explains an unknown key: it is given the path of
	// the mapping holding it ("" for the root, "ports[2]") and the key, and
	// returns the message of the problem, or "" for the default one, which
	// lists the keys the mapping accepts.
	Unknown func(path, key string) string
}

// unknown is the problem of key, which the struct type t at path lacks.
func (o Options) unknown(path, key string, t reflect.Type, tag string, line int) problem {
	msg := ""
	if o.Unknown != nil {
		msg = o.Unknown(path, key)
	}
	if msg == "" {
		msg = fmt.Sprintf("unknown field (want one of %s)", strings.Join(names(t, tag), ", "))
		for _, n := range names(t, tag) {
			if strings.EqualFold(n, key) {
				msg = fmt.Sprintf("unknown field (field names are case-sensitive: did you mean %s?)", n)
			}
		}
	}
	return problem{line: line, field: join(path, keyName(key)), msg: msg}
}

// problem is a spec.Problem before it is one: kept apart so that the
// walkers need not import spec's field order.
type problem struct {
	line  int
	field string
	msg   string
}

// field finds the struct field of t whose tag (yaml or json) names key.
func field(t reflect.Type, tag, key string) (reflect.StructField, bool) {
	for f := range t.Fields() {
		if tagName(f, tag) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// names lists the keys struct type t accepts, in field order.
func names(t reflect.Type, tag string) []string {
	var out []string
	for f := range t.Fields() {
		if n := tagName(f, tag); n != "" {
			out = append(out, n)
		}
	}
	return out
}

func tagName(f reflect.StructField, tag string) string {
	name, _, _ := strings.Cut(f.Tag.Get(tag), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	if name == "" {
		return f.Name
	}
	return name
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// keyName renders a key for a field path: a plain name as is, anything
// else quoted so that the path stays readable and unambiguous.
func keyName(key string) string {
	if key == "" || strings.ContainsFunc(key, func(r rune) bool {
		return !unicode.IsPrint(r) || unicode.IsSpace(r) || strings.ContainsRune(`.[]"`, r)
	}) {
		return strconv.Quote(key)
	}
	return key
}

// deref strips pointers from t.
func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}
