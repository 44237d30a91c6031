package spec_test

import (
	"errors"
	"fmt"

	"github.com/vem-switch/vem/spec"
)

func ExampleParse() {
	c, err := spec.Parse([]byte(`
host: hv1
uplink: po1
portChannels:
  - {name: po1, mode: lacp-active, members: [{interface: eth1}, {interface: eth2}]}
segments:
  - {name: web, type: vlan, vlan: 100}
ports:
  - {interface: tap-a, mac: "52:54:00:00:00:0a", segment: web}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	po1, _ := c.PortChannel("po1")
	fmt.Println(c.Socket, c.MACAgeing)
	fmt.Println(c.UplinkInterfaces(), po1.Rate, po1.Hash)
	// Output:
	// /run/vem/default.sock 5m0s
	// [eth1 eth2] fast src-dst-mac
}

func ExampleParse_problems() {
	_, err := spec.Parse([]byte(`host: hv1
segments:
  - {name: web, type: vlan, vlan: 5000}
  - {name: web, type: local}
`))
	fmt.Println(err)

	var verr *spec.ValidationError
	if errors.As(err, &verr) {
		fmt.Println(len(verr.Problems), "problems")
	}
	// Output:
	// line 1: uplink: segment web needs an uplink
	// line 3: segments[0].vlan: 5000 is outside 1..4094
	// line 4: segments[1].name: duplicate web (also segments[0].name)
	// 3 problems
}
