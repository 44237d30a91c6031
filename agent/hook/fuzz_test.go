package hook

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
)

// FuzzParseDomain feeds arbitrary documents to the parser and the start
// and stopped operations, as libvirt's stdin would. Whatever arrives: no
// panic; a refusal wraps ErrMalformed on one line; an accepted domain has
// no two vem ports on one tap or MAC, and every port without problems is
// an attach request the agent's API accepts; only such ports reach the
// agent.
//
//	go test -run='^$' -fuzz='^FuzzParseDomain$' ./agent/hook/
func FuzzParseDomain(f *testing.F) {
	for _, name := range []string{"neutron-ovs.xml", "metadata-ethernet.xml", "n1kv.xml", "plain.xml"} {
		f.Add(readTestdata(f, name))
	}
	for _, s := range []string{
		twoPorts(),
		domainXML(vemPorts(`<vem:port interfaceid='i1' mac='52:54:00:00:00:01' segment='web' ips='192.0.2.1,2001:db8::1'/>`), ovs("52:54:00:00:00:01", "tap1", "i1", "p")),
		`<!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><domain><name>&b;</name></domain>`,
		`<domain xmlns:vem="https://vem-switch.dev/xmlns/libvirt/1"><metadata><vem:ports><vem:port mac='52:54:00:00:00:01' segment='web'/></vem:ports></metadata></domain>`,
		"<domain>" + strings.Repeat("<a>", 70) + "</domain>",
		`<?xml version="1.0"?><domain><name>x</name></domain><domain/>`,
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDomain(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error spans lines: %q", err)
			}
			return
		}
		ifs, macs := map[string]bool{}, map[string]bool{}
		for _, p := range d.Ports {
			if p.Interface != "" {
				if ifs[p.Interface] {
					t.Fatalf("two ports on %s", p.Interface)
				}
				ifs[p.Interface] = true
			}
			if p.MAC != "" {
				if macs[p.MAC] {
					t.Fatalf("two ports with MAC %s", p.MAC)
				}
				macs[p.MAC] = true
			}
			if p.Check(true) != nil {
				continue
			}
			r := api.NewAttachRequest(p.Request())
			if err := r.Validate(); err != nil {
				t.Fatalf("port %+v without problems: the API refuses it: %v", p, err)
			}
			if checkIfName(p.Interface) != nil || p.Segment == "" {
				t.Fatalf("port %+v without problems has a bad interface or no segment", p)
			}
		}
		for _, op := range [][2]string{{"start", "begin"}, {"stopped", "end"}} {
			fc := newFake()
			res := Run(context.Background(), d.Name, op[0], op[1], data, Config{Timeout: time.Second, OnAgentDown: AgentDownFail}, func() Client { return fc })
			for _, m := range res.Messages {
				if strings.ContainsAny(m, "\n\r") {
					t.Fatalf("message spans lines: %q", m)
				}
			}
			for _, p := range fc.ports {
				if err := api.NewAttachRequest(p).Validate(); err != nil {
					t.Fatalf("attached %+v: %v", p, err)
				}
			}
		}
	})
}
