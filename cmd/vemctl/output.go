package main

import (
	"encoding/json"
	"fmt"
	"io"
)

// render writes v as indented JSON with -o json, or else as the table
// that asTable prints.
func (o *options) render(w io.Writer, v any, asTable func(io.Writer) error) error {
	if o.output == outputJSON {
		return writeJSON(w, v)
	}
	return asTable(w)
}

// writeJSON writes v, one of the API types, as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
