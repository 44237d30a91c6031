package netdef

import (
	"fmt"
	"mime"
	"reflect"
	"slices"
	"strings"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/internal/strict"
)

// Format is the encoding of a network definition.
type Format string

// Formats of a network definition.
const (
	YAML Format = "yaml"
	JSON Format = "json"
)

// FormatOf returns the format a Content-Type names: JSON for
// application/json, YAML for the YAML types and for none (`vsm apply`
// sends the file as written, so that problems name its lines).
func FormatOf(contentType string) (Format, error) {
	if contentType == "" {
		return YAML, nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", fmt.Errorf("content type %q: %w", contentType, err)
	}
	switch mt {
	case "application/json":
		return JSON, nil
	case "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml":
		return YAML, nil
	}
	return "", fmt.Errorf("content type %q is neither application/json nor application/yaml", mt)
}

// Lines maps the field paths of a parsed document to their lines; Fill
// places a validation's problems on them.
type Lines = strict.Lines

// Parse decodes a network definition strictly: unknown and repeated
// fields are refused (host facts of the agent file by name, as belonging
// to each host's agent file), all at once, as a *spec.ValidationError with
// field paths and lines. It normalises the result (Normalize) but does not
// validate it: a definition that is applied is validated merged with what
// the VSM holds. The lines let the caller place those problems.
func Parse(data []byte, f Format) (*Network, Lines, error) {
	var n Network
	var lines Lines
	var err error
	opts := strict.Options{Unknown: explainUnknown}
	switch f {
	case YAML:
		lines, err = strict.YAML(data, &n, opts)
	case JSON:
		lines, err = strict.JSON(data, &n, opts)
	default:
		return nil, nil, fmt.Errorf("network definition: unknown format %q", f)
	}
	if err != nil {
		return nil, nil, err
	}
	n.Normalize()
	return &n, lines, nil
}

// ParseValid is Parse followed by Validate: a document that must stand on
// its own, as a full sync's does. Problems carry their lines.
func ParseValid(data []byte, f Format) (*Network, error) {
	n, lines, err := Parse(data, f)
	if err != nil {
		return nil, err
	}
	if err := n.Validate(); err != nil {
		PlaceProblems(err, lines)
		return nil, err
	}
	return n, nil
}

// PlaceProblems fills in the lines of a *spec.ValidationError's problems
// from lines and orders them by line; other errors are left alone.
func PlaceProblems(err error, lines Lines) {
	ve, ok := err.(*spec.ValidationError)
	if !ok || lines == nil {
		return
	}
	lines.Fill(ve.Problems)
	slices.SortStableFunc(ve.Problems, func(a, b spec.Problem) int { return a.Line - b.Line })
}

// hostFacts are the agent file's fields that are not network definitions.
var hostFacts = func() []string {
	var out []string
	t := reflect.TypeFor[spec.Switch]()
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch name {
		case "", "-", "segments", "profiles", "ports":
		default:
			out = append(out, name)
		}
	}
	return out
}()

// explainUnknown says why a field of the agent file is refused here.
func explainUnknown(path, key string) string {
	switch {
	case path == "" && (slices.Contains(hostFacts, key) || key == "vsm"):
		return fmt.Sprintf("%s is a host fact: set it in each host's agent file; a network definition holds only segments, profiles and ports", key)
	case isPortPath(path) && key == "interface":
		return "a pre-created port is named by its id; the VEM names the interface when it binds the port"
	}
	return ""
}

func isPortPath(path string) bool {
	var i int
	_, err := fmt.Sscanf(path, "ports[%d]", &i)
	return err == nil && path == fmt.Sprintf("ports[%d]", i)
}
