package config

import (
	"errors"
	"testing"

	"github.com/vem-switch/vem/spec"
)

// FuzzParse: any VSM file either parses into a configuration that
// validates again, or is refused with an error; nothing panics, and
// every validation problem names a field.
func FuzzParse(f *testing.F) {
	f.Add([]byte("name: vsm-a\ndomain: 100\nrole: standalone\nlisten: 127.0.0.1:7443\napi: 127.0.0.1:8443\ndataDir: /var/lib/vsm\n"))
	f.Add([]byte("name: vsm-a\ndomain: 100\nrole: primary\ncontrol: {address: 10.0.0.1:7444, peer: 10.0.0.2:7444}\nheartbeatLossInterval: 15s\n"))
	f.Add([]byte("domain: 5000\nrole: tertiary\nunknown: 1\n"))
	f.Add([]byte("- [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			var verr *spec.ValidationError
			if errors.As(err, &verr) {
				for _, p := range verr.Problems {
					if p.Field == "" && p.Line == 0 {
						t.Errorf("a problem names neither field nor line: %q", p.Msg)
					}
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Errorf("Parse accepted a file that does not validate: %v", err)
		}
	})
}
