package spec_test

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vem-switch/vem/spec"
)

type durationDoc struct {
	D spec.Duration `yaml:"d"`
}

func TestDurationUnmarshal(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "d: 300s", want: 300 * time.Second},
		{in: "d: 5m", want: 5 * time.Minute},
		{in: "d: 1h30m", want: 90 * time.Minute},
		{in: "d: 1.5s", want: 1500 * time.Millisecond},
		{in: "d: 0s", want: 0},
		{in: "d: -5s", wantErr: `line 1: negative duration "-5s"`},
		{in: "d: five", wantErr: `line 1: invalid duration "five": want a Go duration such as "300s" or "5m"`},
		{in: "d: 300", wantErr: `line 1: invalid duration "300"`},
		{in: "\nd: [1s]", wantErr: `line 2: want a duration such as "300s" or "5m"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var doc durationDoc
			err := yaml.Unmarshal([]byte(tt.in), &doc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Unmarshal(%q) = %v, want error containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%q): %v", tt.in, err)
			}
			if got := time.Duration(doc.D); got != tt.want {
				t.Errorf("Unmarshal(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDurationRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{0, time.Nanosecond, 10 * time.Second, 300 * time.Second, 1000000 * time.Second, 90*time.Minute + 250*time.Millisecond} {
		out, err := yaml.Marshal(durationDoc{D: spec.Duration(d)})
		if err != nil {
			t.Fatalf("Marshal(%v): %v", d, err)
		}
		if want := "d: " + d.String() + "\n"; string(out) != want {
			t.Errorf("Marshal(%v) = %q, want %q", d, out, want)
		}
		var back durationDoc
		if err := yaml.Unmarshal(out, &back); err != nil {
			t.Fatalf("Unmarshal(%q): %v", out, err)
		}
		if time.Duration(back.D) != d {
			t.Errorf("round trip of %v gave %v", d, time.Duration(back.D))
		}
	}
}
