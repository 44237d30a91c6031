package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"gopkg.in/yaml.v3"
)

// Parse decodes a YAML configuration, applies defaults and validates it
// without checking that interfaces exist.
func Parse(data []byte) (*Switch, error) {
	return ParseWith(data, ValidateOptions{})
}

// Load reads and parses the configuration file at path.
func Load(path string) (*Switch, error) {
	return LoadWith(path, ValidateOptions{})
}

// LoadWith reads the configuration file at path and parses it with ParseWith.
func LoadWith(path string, opts ValidateOptions) (*Switch, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := ParseWith(data, opts)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// ParseWith decodes a YAML configuration strictly, applies defaults and
// validates it with opts. Unknown fields and validation failures are
// returned as a *ValidationError whose problems carry YAML line numbers;
// malformed YAML and values of the wrong type as the decoder's error.
func ParseWith(data []byte, opts ValidateOptions) (*Switch, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	// Nothing, "---" and "~" all leave nothing to configure.
	if len(doc.Content) == 0 || doc.Content[0].ShortTag() == "!!null" {
		return nil, errors.New("decode config: empty document")
	}
	lines, unknown := indexLines(&doc)
	if len(unknown) > 0 {
		return nil, &ValidationError{Problems: unknown}
	}

	c, err := decodeStrict(data)
	if err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	c.ApplyDefaults()
	if err := c.Validate(opts); err != nil {
		var verr *ValidationError
		if errors.As(err, &verr) {
			for i := range verr.Problems {
				verr.Problems[i].Line = lines.line(verr.Problems[i].Field)
			}
			// Validation goes section by section; the file may not.
			slices.SortStableFunc(verr.Problems, func(a, b Problem) int { return a.Line - b.Line })
		}
		return nil, err
	}
	return c, nil
}

// decodeStrict decodes the single document in data, rejecting unknown
// fields (also inside aliases and merges, which indexLines skips).
func decodeStrict(data []byte) (*Switch, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Switch
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	switch err := dec.Decode(new(yaml.Node)); {
	case err == nil:
		return nil, errors.New("more than one YAML document; want one")
	case !errors.Is(err, io.EOF):
		return nil, err
	}
	return &c, nil
}
