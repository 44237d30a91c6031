package bundle

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

const sumA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func manifestJSON(edit func(m map[string]any)) []byte {
	m := map[string]any{
		"format": 1, "version": "1.3.0", "protocol": "1.0",
		"upgradesFrom": "1.2.0", "downgradesTo": "1.2.0",
		"files": map[string]any{"vem-agent": sumA},
	}
	if edit != nil {
		edit(m)
	}
	data, _ := json.Marshal(m)
	return data
}

func TestParseManifest(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want string // "" accepts
	}{
		{"good", manifestJSON(nil), ""},
		{"no floors", manifestJSON(func(m map[string]any) { delete(m, "upgradesFrom"); delete(m, "downgradesTo") }), ""},
		{"commit as version, no floors", manifestJSON(func(m map[string]any) {
			m["version"] = "e98c2ba-dirty"
			delete(m, "upgradesFrom")
			delete(m, "downgradesTo")
		}), ""},
		{"v-prefixed prerelease", manifestJSON(func(m map[string]any) { m["version"] = "v1.3.0-rc.1" }), ""},
		{"format", manifestJSON(func(m map[string]any) { m["format"] = 2 }), "format: 2"},
		{"no version", manifestJSON(func(m map[string]any) { delete(m, "version") }), "version: empty"},
		{"version with a slash", manifestJSON(func(m map[string]any) { m["version"] = "1.3/../x" }), "version:"},
		{"version current", manifestJSON(func(m map[string]any) { m["version"] = "current" }), "reserved"},
		{"version dot", manifestJSON(func(m map[string]any) { m["version"] = ".hidden" }), "version:"},
		{"protocol", manifestJSON(func(m map[string]any) { m["protocol"] = "1" }), "protocol:"},
		{"protocol words", manifestJSON(func(m map[string]any) { m["protocol"] = "one.two" }), "protocol:"},
		{"floor not semver", manifestJSON(func(m map[string]any) { m["upgradesFrom"] = "yesterday" }), "upgradesFrom:"},
		{"floor newer", manifestJSON(func(m map[string]any) { m["downgradesTo"] = "1.4.0" }), "downgradesTo: 1.4.0 is newer"},
		{"floor on a commit", manifestJSON(func(m map[string]any) { m["version"] = "e98c2ba" }), "cannot be ordered"},
		{"no files", manifestJSON(func(m map[string]any) { delete(m, "files") }), "files: missing"},
		{"no agent", manifestJSON(func(m map[string]any) { m["files"] = map[string]any{"other": sumA} }), "no vem-agent"},
		{"bad sum", manifestJSON(func(m map[string]any) { m["files"] = map[string]any{"vem-agent": "abc"} }), "64 hex"},
		{"escaping path", manifestJSON(func(m map[string]any) {
			m["files"] = map[string]any{"vem-agent": sumA, "../etc/passwd": sumA}
		}), "not a clean path"},
		{"absolute path", manifestJSON(func(m map[string]any) { m["files"] = map[string]any{"vem-agent": sumA, "/bin/sh": sumA} }), "not a clean path"},
		{"manifest listed", manifestJSON(func(m map[string]any) { m["files"] = map[string]any{"vem-agent": sumA, "manifest.json": sumA} }), "the manifest itself"},
		{"unknown field", manifestJSON(func(m map[string]any) { m["signature"] = "x" }), `unknown field "signature"`},
		{"wrong type", manifestJSON(func(m map[string]any) { m["format"] = "1" }), "format"},
		{"trailing data", append(manifestJSON(nil), []byte(` {}`)...), "data after"},
		{"not JSON", []byte("version: 1.3.0"), "manifest.json"},
		{"too large", []byte(`{"version":"` + strings.Repeat("x", maxManifest) + `"}`), "larger than"},
	} {
		m, err := ParseManifest(tc.data)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s: accepted %+v, want an error saying %q", tc.name, m, tc.want)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: error %q does not say %q", tc.name, err, tc.want)
		}
	}
}

func TestCompatible(t *testing.T) {
	man := func(v, proto, from, to string) *Manifest {
		return &Manifest{Version: v, Protocol: proto, UpgradesFrom: from, DowngradesTo: to}
	}
	for _, tc := range []struct {
		name          string
		running, next *Manifest
		want          string
	}{
		{"upgrade", man("1.2.0", "1.0", "", "1.1.0"), man("1.3.0", "1.1", "1.2.0", "1.2.0"), ""},
		{"same version", man("1.3.0", "1.1", "", ""), man("1.3.0", "1.1", "1.3.0", ""), ""},
		{"upgrade below the floor", man("1.1.5", "1.0", "", ""), man("1.3.0", "1.0", "1.2.0", ""), "upgrades from 1.2.0 or later; the running agent is 1.1.5"},
		{"downgrade", man("1.3.0", "1.1", "", "1.2.0"), man("1.2.0", "1.0", "", ""), ""},
		{"downgrade below the floor", man("1.3.0", "1.1", "", "1.2.0"), man("1.1.0", "1.0", "", ""), "can be downgraded to 1.2.0 or later, not to 1.1.0"},
		{"prerelease below release", man("1.3.0", "1.0", "", "1.3.0"), man("1.3.0-rc.1", "1.0", "", ""), "not to 1.3.0-rc.1"},
		{"protocol major", man("1.2.0", "1.0", "", ""), man("2.0.0", "2.0", "", ""), "protocol 2.0 cannot run beside"},
		{"protocol minors two apart", man("1.2.0", "1.0", "", ""), man("1.3.0", "1.2", "", ""), "minors at most one apart"},
		{"dev builds unordered", man("dev", "1.0", "", ""), man("1.3.0", "1.0", "1.2.0", ""), ""},
		{"running protocol unknown", man("1.2.0", "", "", ""), man("1.3.0", "1.0", "", ""), "running version's protocol"},
	} {
		err := Compatible(tc.running, tc.next)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want one saying %q", tc.name, err, tc.want)
		}
	}
}

// FuzzParseManifest: no input panics the parser, and a manifest it accepts
// is written back (Marshal) to one it reads as the same.
func FuzzParseManifest(f *testing.F) {
	f.Add(manifestJSON(nil))
	f.Add(manifestJSON(func(m map[string]any) { m["files"] = map[string]any{"vem-agent": sumA, "lib/x.so": sumA} }))
	f.Add([]byte(`{"format":1,"version":"dev","protocol":"1.0","files":{"vem-agent":"` + sumA + `"}}`))
	f.Add([]byte(`{"format":1,"files":{"..":""}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("accepted %+v but cannot write it: %v", m, err)
		}
		back, err := ParseManifest(out)
		if err != nil {
			t.Fatalf("cannot read back what it wrote: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(m, back) {
			t.Fatalf("read back %+v, wrote %+v", back, m)
		}
	})
}
