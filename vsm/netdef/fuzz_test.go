package netdef_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vem-switch/vem/vsm/netdef"
)

// FuzzDecodeNetwork feeds arbitrary bodies to the decoder of `vsm apply`
// and of the northbound API's apply and sync, as YAML and as JSON.
// Whatever arrives it never panics, and what it accepts survives a round
// trip: encoded again (JSON or YAML) it decodes to the same definition,
// and validates the same way.
//
//	go test -run='^$' -fuzz=FuzzDecodeNetwork ./vsm/netdef/
func FuzzDecodeNetwork(f *testing.F) {
	for _, seed := range []string{
		good,
		"segments: []\nuplink: po1\n",
		"ports:\n  - id: x\n    interface: tap-a\n",
		"segments:\n  - &a {name: a, type: local}\n  - *a\n",
		"profiles:\n  - {name: p, stormControl: {broadcast: 5}, allowedAddressPairs: [{ip: 192.0.2.0/24}]}\n",
		`{"segments":[{"name":"web","type":"vlan","vlan":100}],"ports":[{"id":"6f1d2b7c-3e0a-4a5b-9c8d-00000000000a","mac":"52:54:00:00:00:0a","segment":"web"}]}`,
		`{"segments":[],"segments":[]}`,
		`{"Segments":[]}`,
		`{"segments":[{"name":"a","type":"vlan","vlan":"x"}]}`,
		`{"segments":[]} x`,
		`[`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		format := netdef.YAML
		if asJSON {
			format = netdef.JSON
		}
		n, _, err := netdef.Parse(data, format)
		if err != nil {
			return
		}
		valid := n.Validate() == nil
		want, err := json.Marshal(n)
		if err != nil {
			t.Fatalf("encode accepted definition: %v", err)
		}
		y, err := yaml.Marshal(n)
		if err != nil {
			t.Fatalf("encode accepted definition as YAML: %v", err)
		}
		for _, again := range []struct {
			data []byte
			f    netdef.Format
		}{{want, netdef.JSON}, {y, netdef.YAML}} {
			if bytes.Equal(again.data, []byte("{}")) || bytes.Equal(again.data, []byte("{}\n")) {
				continue // nothing defined: an empty document is refused
			}
			n2, _, err := netdef.Parse(again.data, again.f)
			if err != nil {
				t.Fatalf("%s of an accepted definition refused: %v\n%s", again.f, err, again.data)
			}
			got, _ := json.Marshal(n2)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s round trip changed the definition:\n%s\n%s", again.f, want, got)
			}
			if (n2.Validate() == nil) != valid {
				t.Fatalf("%s round trip changed validity", again.f)
			}
		}
	})
}
