package hook

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseSamples(t *testing.T) {
	for _, c := range []struct {
		file string
		name string
		want []Port
	}{
		{"neutron-ovs.xml", "instance-00000001", []Port{{
			Index: 0, Interface: "tap3c1e2f0a-5b", MAC: "fa:16:3e:11:22:33",
			InterfaceID: "3c1e2f0a-5b6d-4e7f-8a9b-0c1d2e3f4a5b", Segment: "web", Profile: "default",
			IPs: []string{"192.0.2.10", "2001:db8::10"},
		}}},
		{"metadata-ethernet.xml", "web1", []Port{
			{Index: 0, Interface: "vemtap1", MAC: "52:54:00:aa:00:01", Segment: "web", Profile: "default", IPs: []string{"192.0.2.1"}},
			{Index: 1, Interface: "vemtap2", MAC: "52:54:00:aa:00:02", Segment: "db"},
			// the third, on libvirt's default network, is not vem's
		}},
		{"n1kv.xml", "n1kv-vm", []Port{{
			Index: 0, Interface: "vethn1kv0", MAC: "52:54:00:bb:00:01",
			InterfaceID: "a5f9c3e2-1111-2222-3333-444455556666", Segment: "web", Profile: "vm-access-web",
			// the 802.1Qbh interface is not vem's
		}}},
		{"plain.xml", "plain", nil},
	} {
		t.Run(c.file, func(t *testing.T) {
			d, err := ParseDomain(readTestdata(t, c.file))
			if err != nil {
				t.Fatal(err)
			}
			if d.Name != c.name {
				t.Errorf("name %q, want %q", d.Name, c.name)
			}
			if !reflect.DeepEqual(d.Ports, c.want) {
				t.Errorf("ports\n got %+v\nwant %+v", d.Ports, c.want)
			}
			for _, p := range d.Ports {
				if err := p.Check(true); err != nil {
					t.Errorf("port %s: %v", p.Name(), err)
				}
			}
		})
	}
}

// domainXML makes a domain with the given metadata and interfaces.
func domainXML(meta, ifaces string) string {
	return fmt.Sprintf(`<domain type='kvm'><name>d1</name><metadata>%s</metadata><devices>%s</devices></domain>`, meta, ifaces)
}

const vemNS = `xmlns:vem="https://vem-switch.dev/xmlns/libvirt/1"`

func ethernet(mac, dev string) string {
	s := fmt.Sprintf(`<interface type='ethernet'><mac address='%s'/>`, mac)
	if dev != "" {
		s += fmt.Sprintf(`<target dev='%s'/>`, dev)
	}
	return s + `</interface>`
}

func ovs(mac, dev, id, profile string) string {
	return fmt.Sprintf(`<interface type='bridge'><mac address='%s'/><source bridge='br-int'/><virtualport type='openvswitch'><parameters interfaceid='%s' profileid='%s'/></virtualport><target dev='%s'/></interface>`, mac, id, profile, dev)
}

func vemPorts(ports ...string) string {
	return `<vem:ports ` + vemNS + `>` + strings.Join(ports, "") + `</vem:ports>`
}

// TestParseUnmatchedEntry: a metadata entry whose NIC is gone (unplugged,
// or a typo) is named in Unmatched and ignored; the domain's other ports
// are parsed as ever, so the domain can still start.
func TestParseUnmatchedEntry(t *testing.T) {
	xml := domainXML(vemPorts(
		`<vem:port mac='52:54:00:00:00:01' segment='web'/>`,
		`<vem:port mac='52:54:00:00:00:09' segment='web'/>`,
		`<vem:port interfaceid='gone' segment='db'/>`,
	), ethernet("52:54:00:00:00:01", "tap1"))
	d, err := ParseDomain([]byte(xml))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Ports) != 1 || d.Ports[0].Interface != "tap1" || d.Ports[0].Segment != "web" {
		t.Errorf("ports %+v", d.Ports)
	}
	if want := []string{"vem:port mac=52:54:00:00:00:09", `vem:port interfaceid="gone"`}; !slices.Equal(d.Unmatched, want) {
		t.Errorf("unmatched %q, want %q", d.Unmatched, want)
	}
}

// TestParseRefused: documents the hook refuses as a whole, with the reason.
func TestParseRefused(t *testing.T) {
	mac1, mac2 := "52:54:00:00:00:01", "52:54:00:00:00:02"
	port1 := `<vem:port mac='52:54:00:00:00:01' segment='web'/>`
	for _, c := range []struct {
		name, xml, want string
	}{
		{"empty", "", "no <domain>"},
		{"not xml", "hello", "text outside"},
		{"wrong root", `<network><name>x</name></network>`, "not <domain>"},
		{"namespaced root", `<d:domain xmlns:d="urn:x"><name>x</name></d:domain>`, "not <domain>"},
		{"two roots", `<domain><name>a</name></domain><domain><name>b</name></domain>`, "second root"},
		{"text after root", `<domain><name>a</name></domain>junk`, "text outside"},
		{"unclosed", `<domain><name>a</name>`, "unexpected EOF"},
		{"mismatched", `<domain><name>a</nam></domain>`, "element <name> closed by </nam>"},
		{"billion laughs", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><domain><name>&lol2;</name></domain>`, "DTD"},
		{"external entity", `<!DOCTYPE domain [<!ENTITY xxe SYSTEM "file:///etc/shadow">]><domain><name>&xxe;</name></domain>`, "DTD"},
		{"undefined entity", `<domain><name>&xxe;</name></domain>`, "invalid character entity"},
		{"processing instruction", `<domain><?php echo 1 ?><name>a</name></domain>`, "processing instruction"},
		{"deep nesting", "<domain>" + strings.Repeat("<a>", MaxDepth) + strings.Repeat("</a>", MaxDepth) + "</domain>", "nested deeper"},
		{"other encoding", `<?xml version="1.0" encoding="ISO-8859-1"?><domain><name>a</name></domain>`, "CharsetReader"},
		{"huge", "<domain>" + strings.Repeat(" ", MaxXMLSize) + "</domain>", "larger than"},
		{"unknown vem element", domainXML(`<vem:port `+vemNS+` mac='52:54:00:00:00:01' segment='web'/>`, ethernet(mac1, "tap1")), "unknown vem element <port>"},
		{"two vem elements", domainXML(vemPorts(port1)+vemPorts(), ethernet(mac1, "tap1")), "second vem element"},
		{"port in wrong namespace", domainXML(`<vem:ports `+vemNS+`><port mac='52:54:00:00:00:01' segment='web'/></vem:ports>`, ethernet(mac1, "tap1")), "want <port> in namespace"},
		{"port in another namespace", domainXML(`<vem:ports `+vemNS+` xmlns:o="urn:other"><o:port mac='52:54:00:00:00:01' segment='web'/></vem:ports>`, ethernet(mac1, "tap1")), "want <port> in namespace"},
		{"nested in port", domainXML(vemPorts(`<vem:port mac='52:54:00:00:00:01' segment='web'><vem:port mac='52:54:00:00:00:02' segment='web'/></vem:port>`), ethernet(mac1, "tap1")), "unexpected element"},
		{"unknown attribute", domainXML(vemPorts(`<vem:port mac='52:54:00:00:00:01' segment='web' vlan='7'/>`), ethernet(mac1, "tap1")), `unknown attribute "vlan"`},
		{"namespaced attribute", domainXML(vemPorts(`<vem:port mac='52:54:00:00:00:01' vem:segment='web'/>`), ethernet(mac1, "tap1")), "no namespace prefix"},
		{"attribute on ports", domainXML(`<vem:ports `+vemNS+` mode='x'>`+port1+`</vem:ports>`, ethernet(mac1, "tap1")), "unknown attribute mode"},
		{"text in ports", domainXML(`<vem:ports `+vemNS+`>hello`+port1+`</vem:ports>`, ethernet(mac1, "tap1")), "text in vem ports"},
		{"no matcher", domainXML(vemPorts(`<vem:port segment='web'/>`), ethernet(mac1, "tap1")), "neither interfaceid nor mac"},
		{"no segment", domainXML(vemPorts(`<vem:port mac='52:54:00:00:00:01'/>`), ethernet(mac1, "tap1")), "no segment"},
		{"bad mac", domainXML(vemPorts(`<vem:port mac='52-54-00-00-00-01' segment='web'/>`), ethernet(mac1, "tap1")), "invalid MAC"},
		{"multicast mac", domainXML(vemPorts(`<vem:port mac='01:00:5e:00:00:01' segment='web'/>`), ethernet(mac1, "tap1")), "multicast"},
		{"bad ip", domainXML(vemPorts(`<vem:port mac='52:54:00:00:00:01' segment='web' ips='192.0.2.300'/>`), ethernet(mac1, "tap1")), "invalid IP"},
		{"ip with prefix", domainXML(vemPorts(`<vem:port mac='52:54:00:00:00:01' segment='web' ips='192.0.2.1/24'/>`), ethernet(mac1, "tap1")), "invalid IP"},
		{"duplicate ip", domainXML(vemPorts(`<vem:port mac='52:54:00:00:00:01' segment='web' ips='192.0.2.1,192.0.2.1'/>`), ethernet(mac1, "tap1")), "given twice"},
		{"huge value", domainXML(vemPorts(`<vem:port mac='52:54:00:00:00:01' segment='`+strings.Repeat("s", 300)+`'/>`), ethernet(mac1, "tap1")), "longer than"},
		{"control character", domainXML(vemPorts(`<vem:port mac='52:54:00:00:00:01' segment='we&#10;b'/>`), ethernet(mac1, "tap1")), "control characters"},
		{"duplicate entry by mac", domainXML(vemPorts(port1, port1), ethernet(mac1, "tap1")), "two vem ports with mac"},
		{"duplicate entry by id", domainXML(vemPorts(`<vem:port interfaceid='i1' segment='web'/>`, `<vem:port interfaceid='i1' segment='db'/>`), ovs(mac1, "tap1", "i1", "")), "two vem ports with interfaceid"},
		{"entry matches two interfaces", domainXML(vemPorts(port1), ethernet(mac1, "tap1")+ethernet(mac1, "tap2")), "more than one interface"},
		{"two entries match one interface", domainXML(vemPorts(`<vem:port interfaceid='i1' segment='web'/>`, `<vem:port mac='52:54:00:00:00:01' segment='web'/>`), ovs(mac1, "tap1", "i1", "p")), "two vem:port entries"},
		{"entry half matches", domainXML(vemPorts(`<vem:port interfaceid='i1' mac='52:54:00:00:00:02' segment='web'/>`), ovs(mac1, "tap1", "i1", "p")), "half matches"},
		{"two ports on one tap", domainXML("", ovs(mac1, "tap1", "i1", "p")+ovs(mac2, "tap1", "i2", "p")), "both have target dev tap1"},
		{"two ports with one mac", domainXML("", ovs(mac1, "tap1", "i1", "p")+ovs(mac1, "tap2", "i2", "p")), "both have MAC"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseDomain([]byte(c.xml))
			if err == nil {
				t.Fatalf("accepted")
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want one containing %q", err, c.want)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

// TestParsePortProblems: documents that parse, with a vem port that cannot
// be attached as written; the problem names the port.
func TestParsePortProblems(t *testing.T) {
	mac1 := "52:54:00:00:00:01"
	for _, c := range []struct {
		name, xml, want string
		needTarget      bool
	}{
		{"ovs without segment", domainXML("", ovs(mac1, "tap1", "i1", "p")), `no segment: add <vem:port interfaceid="i1"`, false},
		{"ovs without interfaceid", domainXML("", `<interface type='bridge'><mac address='52:54:00:00:00:01'/><virtualport type='openvswitch'/><target dev='tap1'/></interface>`), "without interfaceid", false},
		{"no mac", domainXML(vemPorts(`<vem:port interfaceid='i1' segment='web'/>`), `<interface type='bridge'><virtualport type='openvswitch'><parameters interfaceid='i1'/></virtualport><target dev='tap1'/></interface>`), "no <mac address>", false},
		{"bad interface mac", domainXML(vemPorts(`<vem:port interfaceid='i1' segment='web'/>`), ovs("zz:54:00:00:00:01", "tap1", "i1", "p")), "invalid MAC", false},
		{"profile conflict", domainXML(vemPorts(`<vem:port interfaceid='i1' segment='web' profile='a'/>`), ovs(mac1, "tap1", "i1", "b")), "differs from the virtualport's profileid", false},
		{"long target", domainXML(vemPorts(`<vem:port mac='52:54:00:00:00:01' segment='web'/>`), ethernet(mac1, "tap0123456789abcdef")), "longer than 15 bytes", false},
		{"bad target", domainXML(vemPorts(`<vem:port mac='52:54:00:00:00:01' segment='web'/>`), ethernet(mac1, "tap/1")), "not a valid interface name", false},
		{"no target at start", domainXML(vemPorts(`<vem:port mac='52:54:00:00:00:01' segment='web'/>`), ethernet(mac1, "")), "no <target dev>", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := ParseDomain([]byte(c.xml))
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Ports) != 1 {
				t.Fatalf("%d ports, want 1", len(d.Ports))
			}
			err = d.Ports[0].Check(c.needTarget)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("problem %v, want one containing %q", err, c.want)
			}
		})
	}
	// Without a target and not needing one (prepare), the port is fine.
	d, err := ParseDomain([]byte(domainXML(vemPorts(`<vem:port mac='52:54:00:00:00:01' segment='web'/>`), ethernet(mac1, ""))))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Ports[0].Check(false); err != nil {
		t.Errorf("untargeted port before start: %v", err)
	}
	if got := d.Ports[0].Name(); got != "with MAC "+mac1 {
		t.Errorf("name %q", got)
	}
}

func TestParseNamespaces(t *testing.T) {
	mac1 := "52:54:00:00:00:01"
	for _, c := range []struct {
		name, meta string
		ports      int
	}{
		// The prefix is the author's choice; the namespace is what counts.
		{"default namespace", `<ports xmlns="https://vem-switch.dev/xmlns/libvirt/1"><port mac='52:54:00:00:00:01' segment='web'/></ports>`, 1},
		{"other prefix", `<v:ports xmlns:v="https://vem-switch.dev/xmlns/libvirt/1"><v:port mac='52:54:00:00:00:01' segment='web'/></v:ports>`, 1},
		// Someone else's element of the same name is not vem's.
		{"no namespace", `<ports><port mac='52:54:00:00:00:01' segment='web'/></ports>`, 0},
		{"other namespace", `<vem:ports xmlns:vem="https://vem-switch.dev/xmlns/libvirt/2"><vem:port mac='52:54:00:00:00:01' segment='web'/></vem:ports>`, 0},
		{"undeclared prefix", `<vem:ports><vem:port mac='52:54:00:00:00:01' segment='web'/></vem:ports>`, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := ParseDomain([]byte(domainXML(c.meta, ethernet(mac1, "tap1"))))
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Ports) != c.ports {
				t.Errorf("%d ports, want %d", len(d.Ports), c.ports)
			}
		})
	}
	// Declared on the root element, the prefix still resolves.
	doc := `<domain xmlns:vem="https://vem-switch.dev/xmlns/libvirt/1"><name>d1</name><metadata><vem:ports><vem:port mac='52:54:00:00:00:01' segment='web'/></vem:ports></metadata><devices>` + ethernet(mac1, "tap1") + `</devices></domain>`
	d, err := ParseDomain([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Ports) != 1 || d.Ports[0].Segment != "web" {
		t.Errorf("ports %+v", d.Ports)
	}
}

func TestReadXML(t *testing.T) {
	data, err := ReadXML(strings.NewReader(strings.Repeat("x", MaxXMLSize)))
	if err != nil || len(data) != MaxXMLSize {
		t.Fatalf("at the limit: %d bytes, %v", len(data), err)
	}
	if _, err := ReadXML(strings.NewReader(strings.Repeat("x", MaxXMLSize+1))); !errors.Is(err, ErrMalformed) {
		t.Fatalf("over the limit: %v", err)
	}
}
