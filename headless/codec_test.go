package headless

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	want := testCheckpoint(t, 7)
	data, err := Encode(want)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), `{"schema":1,`) {
		t.Errorf("encoding does not lead with the schema: %.40s", data)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip =\n%+v\nwant\n%+v", got, want)
	}
}

func TestDecodeRefuses(t *testing.T) {
	good, err := Encode(testCheckpoint(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	body := string(good[1:]) // after the opening brace
	for _, tc := range []struct {
		name, data string
		want       error
	}{
		{"empty", "", ErrCorrupt},
		{"no schema", `{"generation":1}`, ErrCorrupt},
		{"schema 0", `{"schema":0}`, ErrSchema},
		{"schema 2", `{"schema":2}`, ErrSchema},
		{"unknown field", `{"extra":true,` + body, ErrCorrupt},
		{"trailing data", string(good) + `{}`, ErrCorrupt},
		{"no switch", `{"schema":1,"generation":1,"module":3,"epoch":1,"savedAt":"2026-01-01T00:00:00Z"}`, ErrCorrupt},
		{"array", `[]`, ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode([]byte(tc.data)); !errors.Is(err, tc.want) {
				t.Errorf("Decode = %v; want %v", err, tc.want)
			}
		})
	}
}
