package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"
)

// maxBodyDepth bounds how deeply a request body nests; an attach request
// is an object of strings and a list of strings.
const maxBodyDepth = 8

// decode reads r's JSON body into v, a pointer to a request struct, more
// strictly than encoding/json does, because scripts that send a misspelt
// or repeated field should hear about it rather than have it ignored or
// half-applied: field names match v's JSON names exactly (encoding/json
// would take "Interface" or "MAC"), a field given twice, an unknown field
// or anything after the JSON value is refused, and so is a body that is
// not UTF-8. Every refusal wraps ErrInvalid (400), naming the problem;
// a body over MaxRequestBody is a 413. handle has bounded the body.
func decode(r *http.Request, v any) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return bodyError(err)
	}
	return decodeStrict(data, v)
}

// decodeStrict is decode on a body already read.
func decodeStrict(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("%w: empty request body", ErrInvalid)
	}
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: request body is not valid UTF-8", ErrInvalid)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := checkValue(dec, reflect.TypeOf(v), "", 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("%w: request body holds more than one JSON value", ErrInvalid)
		}
		return fmt.Errorf("%w: data after the JSON value in request body: %w", ErrInvalid, err)
	}
	// The walk has checked the field names; now the types.
	strict := json.NewDecoder(bytes.NewReader(data))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		return bodyError(err)
	}
	return nil
}

// checkValue reads the next JSON value from dec and checks that each of
// its objects names its fields once and exactly as t, the Go type it
// decodes into, spells them. path names the value in errors ("" for the
// body itself). A value whose kind does not fit t is left for
// encoding/json to refuse with its type error.
func checkValue(dec *json.Decoder, t reflect.Type, path string, depth int) error {
	if depth > maxBodyDepth {
		return fmt.Errorf("%w: request body nests deeper than %d levels", ErrInvalid, maxBodyDepth)
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return bodyError(err)
	}
	switch tok {
	case json.Delim('{'):
		return checkObject(dec, t, path, depth)
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := checkValue(dec, elem, fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // ]
			return bodyError(err)
		}
	}
	return nil
}

// checkObject checks the fields of an object whose '{' dec has read.
func checkObject(dec *json.Decoder, t reflect.Type, path string, depth int) error {
	var fields map[string]reflect.Type
	if t != nil && t.Kind() == reflect.Struct {
		fields = jsonFields(t)
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bodyError(err)
		}
		key, _ := tok.(string) // inside an object, the decoder yields keys as strings
		name := fieldPath(path, key)
		if seen[key] {
			return fmt.Errorf("%w: field %q given more than once", ErrInvalid, name)
		}
		seen[key] = true
		var ft reflect.Type
		switch {
		case fields != nil:
			var ok bool
			if ft, ok = fields[key]; !ok {
				return unknownField(name, key, fields)
			}
		case t != nil && t.Kind() == reflect.Map:
			ft = t.Elem()
		}
		if err := checkValue(dec, ft, name, depth+1); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // }
		return bodyError(err)
	}
	return nil
}

// unknownField is the error for key, which is none of fields; a key that
// differs from one only in case says which one was meant.
func unknownField(name, key string, fields map[string]reflect.Type) error {
	for f := range fields {
		if strings.EqualFold(f, key) {
			return fmt.Errorf("%w: unknown field %q (field names are case-sensitive: did you mean %q?)", ErrInvalid, name, f)
		}
	}
	return fmt.Errorf("%w: unknown field %q", ErrInvalid, name)
}

func fieldPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// jsonFields maps the JSON names of struct type t's fields, as
// encoding/json spells them, to their types. Embedded structs without a
// name of their own lend their fields, as in encoding/json.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type)
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for n, typ := range jsonFields(ft) {
					if _, ok := out[n]; !ok {
						out[n] = typ
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = ft
	}
	return out
}

func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body larger than %d bytes", tooBig.Limit)}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: decode request body: unexpected end of JSON input", ErrInvalid)
	}
	return fmt.Errorf("%w: decode request body: %w", ErrInvalid, err)
}
