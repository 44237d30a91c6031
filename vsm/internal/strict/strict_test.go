package strict_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm/internal/strict"
)

type doc struct {
	Items []item `yaml:"items" json:"items"`
}

type item struct {
	Name string   `yaml:"name" json:"name"`
	Tags []string `yaml:"tags" json:"tags"`
}

func TestLines(t *testing.T) {
	for _, tc := range []struct {
		name   string
		decode func([]byte, any, strict.Options) (strict.Lines, error)
		data   string
	}{
		{"yaml", strict.YAML, "items:\n  - name: a\n  - name: b\n    tags:\n      - x\n"},
		{"json", strict.JSON, "{\"items\": [\n{\"name\": \"a\"},\n{\"name\": \"b\",\n\"tags\": [\n\"x\"]}]}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d doc
			lines, err := tc.decode([]byte(tc.data), &d, strict.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for field, want := range map[string]int{"items[0].name": 2, "items[1].name": 3, "items[1].tags[0]": 5, "items[1].missing": 3, "": 1} {
				if got := lines.Line(field); got != want {
					t.Errorf("line of %s = %d, want %d", field, got, want)
				}
			}
		})
	}
}

func TestUnknownExplained(t *testing.T) {
	opts := strict.Options{Unknown: func(path, key string) string {
		if path == "items[1]" && key == "colour" {
			return "items have no colour"
		}
		return ""
	}}
	var d doc
	_, err := strict.YAML([]byte("items:\n  - name: a\n  - colour: red\n    size: 1\n"), &d, opts)
	var ve *spec.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 2 {
		t.Fatalf("got %v, want two problems", err)
	}
	if p := ve.Problems[0]; p.Line != 3 || p.Field != "items[1].colour" || p.Msg != "items have no colour" {
		t.Errorf("explained problem %+v", p)
	}
	if p := ve.Problems[1]; p.Line != 4 || p.Field != "items[1].size" || !strings.Contains(p.Msg, "want one of name, tags") {
		t.Errorf("default problem %+v", p)
	}
}

func TestJSONDepthBounded(t *testing.T) {
	var d doc
	deep := `{"items": [{"tags": ` + strings.Repeat("[", 50) + strings.Repeat("]", 50) + `}]}`
	if _, err := strict.JSON([]byte(deep), &d, strict.Options{}); err == nil || !strings.Contains(err.Error(), "deeper") {
		t.Fatalf("got %v", err)
	}
}
