package main

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"

	"github.com/vem-switch/vem/agent/api"
)

var testPortSecurity = []api.PortSecurity{
	{Name: "Vethernet1", Interface: "tap-a", MAC: "52:54:00:00:00:0a", Profile: "web", PortSecurity: true, Bound: true,
		Addresses: []string{"192.0.2.11", "2001:db8::11"},
		AllowedAddressPairs: []api.AddressPair{
			{IP: "192.0.2.100"},
			{IP: "198.51.100.0/24", MAC: "52:54:00:00:01:0a"},
		},
		AllowLinkLocal: []string{"lacp", "lldp"},
		StormControl:   api.StormControl{Broadcast: 1000, Multicast: 2000, UnknownUnicast: 1000},
		Drops:          map[string]uint64{"spoofed-source": 4, "ip-spoof": 2, "arp-spoof": 1, "storm": 0}},
	{Name: "Vethernet2", Interface: "tap-b", MAC: "52:54:00:00:00:0b", Profile: "router", PortSecurity: true, Trusted: true,
		Addresses: []string{}, AllowedAddressPairs: []api.AddressPair{}, AllowLinkLocal: []string{},
		StormControl: api.StormControl{Broadcast: 1000, Multicast: 2000, UnknownUnicast: 1000},
		Drops:        map[string]uint64{}},
	{Name: "Vethernet3", Interface: "tap-c", MAC: "52:54:00:00:00:0c", Profile: "open",
		Addresses: []string{}, AllowedAddressPairs: []api.AddressPair{}, AllowLinkLocal: []string{"all"},
		MACLimit:     &api.MACLimit{Max: 64, Learned: 3},
		StormControl: api.StormControl{Multicast: 500},
		Drops:        map[string]uint64{"mac-limit": 17}},
}

func TestPortSecurityTables(t *testing.T) {
	tests := []struct {
		name string
		ps   []api.PortSecurity
		want string
	}{
		{"every vEth", testPortSecurity, `
Port        Interface  Profile  Security  Trusted  Bound  Link-Local  Drops
----------  ---------  -------  --------  -------  -----  ----------  -----
Vethernet1  tap-a      web      on        no       yes    lacp,lldp   7
Vethernet2  tap-b      router   on        yes      no     none        0
Vethernet3  tap-c      open     off       no       no     all         17

Port        Learned MACs  MAC Limit  Broadcast pps  Multicast pps  Unknown Unicast pps
----------  ------------  ---------  -------------  -------------  -------------------
Vethernet1  --            --         1000           2000           1000
Vethernet2  --            --         1000           2000           1000
Vethernet3  3             64         none           500            none

Port        Address          MAC                Source
----------  ---------------  -----------------  ------
Vethernet1  192.0.2.11       52:54:00:00:00:0a  ip
Vethernet1  2001:db8::11     52:54:00:00:00:0a  ip
Vethernet1  192.0.2.100      52:54:00:00:00:0a  pair
Vethernet1  198.51.100.0/24  52:54:00:00:01:0a  pair

Port        Drop Reason     Packets
----------  --------------  -------
Vethernet1  arp-spoof       1
Vethernet1  ip-spoof        2
Vethernet1  spoofed-source  4
Vethernet3  mac-limit       17
`},
		{"no addresses, no drops", testPortSecurity[1:2], `
Port        Interface  Profile  Security  Trusted  Bound  Link-Local  Drops
----------  ---------  -------  --------  -------  -----  ----------  -----
Vethernet2  tap-b      router   on        yes      no     none        0

Port        Learned MACs  MAC Limit  Broadcast pps  Multicast pps  Unknown Unicast pps
----------  ------------  ---------  -------------  -------------  -------------------
Vethernet2  --            --         1000           2000           1000
`},
		{"default profile, no limit", []api.PortSecurity{{Name: "Vethernet4", Interface: "tap-d",
			MACLimit: &api.MACLimit{}, Addresses: []string{"192.0.2.4"}}}, `
Port        Interface  Profile  Security  Trusted  Bound  Link-Local  Drops
----------  ---------  -------  --------  -------  -----  ----------  -----
Vethernet4  tap-d      --       off       no       no     none        0

Port        Learned MACs  MAC Limit  Broadcast pps  Multicast pps  Unknown Unicast pps
----------  ------------  ---------  -------------  -------------  -------------------
Vethernet4  0             none       none           none           none

Port        Address    MAC  Source
----------  ---------  ---  ------
Vethernet4  192.0.2.4  --   ip
`},
		{"no vEths", nil, `
Port  Interface  Profile  Security  Trusted  Bound  Link-Local  Drops
----  ---------  -------  --------  -------  -----  ----------  -----

Port  Learned MACs  MAC Limit  Broadcast pps  Multicast pps  Unknown Unicast pps
----  ------------  ---------  -------------  -------------  -------------------
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writePortSecurity(&b, tt.ps); err != nil {
				t.Fatal(err)
			}
			if want := tt.want[1:]; b.String() != want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
			}
		})
	}
}

// TestPortSecurityJSON checks that -o json writes the API type, so that
// it decodes back to what was rendered.
func TestPortSecurityJSON(t *testing.T) {
	tests := []struct {
		name string
		ps   []api.PortSecurity
	}{
		{"every vEth", testPortSecurity},
		{"no vEths", []api.PortSecurity{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &options{output: outputJSON}
			var b bytes.Buffer
			err := o.render(&b, tt.ps, func(io.Writer) error {
				t.Error("-o json rendered a table")
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var got []api.PortSecurity
			if err := json.Unmarshal(b.Bytes(), &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, b.String())
			}
			if !reflect.DeepEqual(got, tt.ps) {
				t.Errorf("decoded %+v, want %+v", got, tt.ps)
			}
		})
	}
}

// TestPortSecurityJSONFieldNames checks the camelCase field names of an
// open port, which has a MAC limit, and a bound secure one, which has not.
func TestPortSecurityJSONFieldNames(t *testing.T) {
	tests := []struct {
		name string
		ps   api.PortSecurity
		want string
	}{
		{"open", testPortSecurity[2], `[
  {
    "name": "Vethernet3",
    "interface": "tap-c",
    "mac": "52:54:00:00:00:0c",
    "profile": "open",
    "portSecurity": false,
    "trusted": false,
    "addresses": [],
    "allowedAddressPairs": [],
    "bound": false,
    "allowLinkLocal": [
      "all"
    ],
    "macLimit": {
      "max": 64,
      "learned": 3
    },
    "stormControl": {
      "broadcast": 0,
      "multicast": 500,
      "unknownUnicast": 0
    },
    "drops": {
      "mac-limit": 17
    }
  }
]
`},
		{"bound", api.PortSecurity{Name: "Vethernet1", Interface: "tap-a", PortSecurity: true, Bound: true,
			Addresses:           []string{"192.0.2.11"},
			AllowedAddressPairs: []api.AddressPair{{IP: "192.0.2.100"}, {IP: "198.51.100.0/24", MAC: "52:54:00:00:01:0a"}},
			AllowLinkLocal:      []string{}, Drops: map[string]uint64{"spoofed-source": 4}}, `[
  {
    "name": "Vethernet1",
    "interface": "tap-a",
    "portSecurity": true,
    "trusted": false,
    "addresses": [
      "192.0.2.11"
    ],
    "allowedAddressPairs": [
      {
        "ip": "192.0.2.100"
      },
      {
        "ip": "198.51.100.0/24",
        "mac": "52:54:00:00:01:0a"
      }
    ],
    "bound": true,
    "allowLinkLocal": [],
    "stormControl": {
      "broadcast": 0,
      "multicast": 0,
      "unknownUnicast": 0
    },
    "drops": {
      "spoofed-source": 4
    }
  }
]
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeJSON(&b, []api.PortSecurity{tt.ps}); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}
