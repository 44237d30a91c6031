package spec

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// UnmarshalYAML decodes a Go duration string such as "300s" or "5m".
// Negative durations and bare numbers (no unit) are rejected.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	// A *yaml.TypeError lets the decoder collect this problem together with
	// the file's other type errors instead of stopping at the first.
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{
			fmt.Sprintf("line %d: want a duration such as \"300s\" or \"5m\"", n.Line),
		}}
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{
			fmt.Sprintf("line %d: invalid duration %q: want a Go duration such as \"300s\" or \"5m\"", n.Line, n.Value),
		}}
	}
	if v < 0 {
		return &yaml.TypeError{Errors: []string{
			fmt.Sprintf("line %d: negative duration %q", n.Line, n.Value),
		}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML encodes the duration as a Go duration string ("5m0s").
func (d Duration) MarshalYAML() (any, error) {
	return d.String(), nil
}

// String formats the duration as time.Duration does.
func (d Duration) String() string {
	return time.Duration(d).String()
}
