package guest

import (
	"fmt"
	"html"
	"path/filepath"
	"strings"
)

// Namespace is vem's metadata namespace (package agent/hook).
const Namespace = "https://vem-switch.dev/xmlns/libvirt/1"

// NIC is one virtio NIC of a guest, plugged as libvirt's
// <interface type='ethernet'>: libvirt makes the tap Tap in its network
// namespace and vem (the hook, or vem-libvirt) attaches it.
type NIC struct {
	// Tap is the target dev; it must not start with "vnet" (libvirt takes
	// such names for its own and renames them).
	Tap, MAC string
	// Addr is the guest's address on the NIC, CIDR (192.0.2.11/24).
	Addr string
	// Segment and Profile are vem's, given in the domain's metadata;
	// Segment empty leaves the NIC out of the metadata (not vem's).
	Segment, Profile string
}

// Domain describes a guest as a libvirt domain.
type Domain struct {
	Name string
	// UUID is libvirt's; empty lets libvirt choose.
	UUID string
	// MemoryMiB is 128 when 0; CPUs 1 when 0.
	MemoryMiB, CPUs int
	Image           *Image
	NICs            []NIC
	// Later are NICs plugged after boot (hot-plug): their addresses go on
	// the kernel command line as eth<len(NICs)+i>, the devices do not.
	Later []NIC
	// Dir holds the console log and the command channel's socket.
	Dir string
}

// ConsoleLog is the file the guest's first serial port (its console)
// writes to.
func (d *Domain) ConsoleLog() string { return filepath.Join(d.Dir, d.Name+".console.log") }

// ChannelSocket is the unix socket of the guest's command channel (its
// second serial port, see Console).
func (d *Domain) ChannelSocket() string { return filepath.Join(d.Dir, d.Name+".channel.sock") }

// Cmdline is the guest kernel's command line.
func (d *Domain) Cmdline() string {
	args := []string{"console=ttyS0", "panic=-1", "loglevel=4"}
	for i, n := range append(append([]NIC(nil), d.NICs...), d.Later...) {
		if n.Addr != "" {
			args = append(args, fmt.Sprintf("vem.ip=eth%d:%s", i, n.Addr))
		}
	}
	return strings.Join(args, " ")
}

// XML returns the domain's XML for virsh define or create: a diskless
// guest booting Image's kernel directly, ACPI on (PCI hot-plug), and the
// vem metadata of its NICs.
func (d *Domain) XML() string {
	mem, cpus := d.MemoryMiB, d.CPUs
	if mem == 0 {
		mem = 128
	}
	if cpus == 0 {
		cpus = 1
	}
	var b strings.Builder
	virt := "kvm"
	if d.Image.Accel != "kvm" {
		virt = "qemu" // libvirt's name for TCG
	}
	fmt.Fprintf(&b, "<domain type='%s'>\n  <name>%s</name>\n", virt, esc(d.Name))
	if d.UUID != "" {
		fmt.Fprintf(&b, "  <uuid>%s</uuid>\n", esc(d.UUID))
	}
	b.WriteString(d.MetadataXML("  "))
	fmt.Fprintf(&b, `  <memory unit='MiB'>%d</memory>
  <vcpu>%d</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>%s</kernel>
    <initrd>%s</initrd>
    <cmdline>%s</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
`, mem, cpus, esc(d.Image.Kernel), esc(d.Image.Initrd), esc(d.Cmdline()))
	for _, n := range d.NICs {
		b.WriteString(n.XML("    "))
	}
	fmt.Fprintf(&b, `    <serial type='file'>
      <source path='%s'/>
      <target port='0'/>
    </serial>
    <serial type='unix'>
      <source mode='bind' path='%s'/>
      <target port='1'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
`, esc(d.ConsoleLog()), esc(d.ChannelSocket()))
	return b.String()
}

// MetadataXML returns the vem metadata element for the NICs (and the
// Later ones given in with), indented by indent, in a <metadata> element.
func (d *Domain) MetadataXML(indent string, with ...NIC) string {
	return indent + "<metadata>\n" + d.PortsXML(indent+"  ", with...) + indent + "</metadata>\n"
}

// PortsXML returns the vem:ports element for NICs and with.
func (d *Domain) PortsXML(indent string, with ...NIC) string {
	return d.portsXML(indent, "vem:", " xmlns:vem='"+Namespace+"'", with)
}

// MetadataSet returns what virsh metadata --uri Namespace --key vem
// --set takes for NICs and with: the element without its namespace,
// which libvirt puts on it.
func (d *Domain) MetadataSet(with ...NIC) string {
	return d.portsXML("", "", "", with)
}

func (d *Domain) portsXML(indent, prefix, xmlns string, with []NIC) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s<%sports%s>\n", indent, prefix, xmlns)
	for _, n := range append(append([]NIC(nil), d.NICs...), with...) {
		if n.Segment == "" {
			continue
		}
		ip := n.Addr
		if i := strings.IndexByte(ip, '/'); i >= 0 {
			ip = ip[:i]
		}
		fmt.Fprintf(&b, "%s  <%sport mac='%s' segment='%s' profile='%s' ips='%s'/>\n", indent, prefix, esc(n.MAC), esc(n.Segment), esc(n.Profile), esc(ip))
	}
	fmt.Fprintf(&b, "%s</%sports>\n", indent, prefix)
	return b.String()
}

// XML returns the NIC's <interface> element (what virsh attach-device
// takes).
func (n NIC) XML(indent string) string {
	return fmt.Sprintf(`%[1]s<interface type='ethernet'>
%[1]s  <mac address='%[2]s'/>
%[1]s  <target dev='%[3]s' managed='yes'/>
%[1]s  <model type='virtio'/>
%[1]s</interface>
`, indent, esc(n.MAC), esc(n.Tap))
}

func esc(s string) string { return html.EscapeString(s) }
