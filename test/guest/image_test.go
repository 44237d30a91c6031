package guest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/test/topo"
)

func TestLibPath(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"\tlinux-vdso.so.1 (0x00007ffd)", ""},
		{"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f94)", "/lib/x86_64-linux-gnu/libc.so.6"},
		{"\t/lib64/ld-linux-x86-64.so.2 (0x00007f94)", "/lib64/ld-linux-x86-64.so.2"},
		{"\tlibgone.so => not found", ""},
		{"", ""},
	} {
		if got := libPath(tc.line); got != tc.want {
			t.Errorf("libPath(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}

func TestCmdlineAndXML(t *testing.T) {
	d := &Domain{Name: "g1", Image: &Image{Kernel: "/k", Initrd: "/i", Accel: "tcg"}, Dir: "/d",
		NICs:  []NIC{{Tap: "gt1", MAC: "52:54:00:00:00:01", Addr: "192.0.2.11/24", Segment: "web", Profile: "default"}},
		Later: []NIC{{Tap: "gt2", MAC: "52:54:00:00:00:02", Addr: "192.0.2.12/24", Segment: "web", Profile: "default"}}}
	if got, want := d.Cmdline(), "console=ttyS0 panic=-1 loglevel=4 vem.ip=eth0:192.0.2.11/24 vem.ip=eth1:192.0.2.12/24"; got != want {
		t.Errorf("cmdline %q, want %q", got, want)
	}
	x := d.XML()
	for _, want := range []string{"<target dev='gt1' managed='yes'/>", "mac='52:54:00:00:00:01' segment='web' profile='default' ips='192.0.2.11'", "<acpi/>", "<domain type='qemu'>", "/d/g1.channel.sock"} {
		if !strings.Contains(x, want) {
			t.Errorf("domain XML lacks %q:\n%s", want, x)
		}
	}
	if strings.Contains(x, "gt2") || strings.Contains(x, "00:02") {
		t.Errorf("a later NIC is in the domain XML:\n%s", x)
	}
}

// TestBoot builds the image and boots it with QEMU alone (no libvirt) on
// a tap in a namespace: the guest loads virtio_net, takes its address
// from the command line, answers ping, and runs commands on its channel.
func TestBoot(t *testing.T) {
	topo.RequireRoot(t)
	if _, err := os.Stat("/usr/bin/qemu-system-x86_64"); err != nil {
		t.Fatalf("qemu-system-x86 is not installed (scripts/deps.sh test): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	img, err := Build(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s (kernel %s, busybox %s) in %v, cached %v", filepath.Dir(img.Kernel), img.KernelPackage, img.BusyboxVersion, time.Since(start).Round(time.Millisecond), img.Cached)
	tp := topo.ForTest(t)
	ns, err := tp.NS("qemu")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	d := &Domain{Name: "boot", Image: img, Dir: dir, NICs: []NIC{{Tap: "gtap0", MAC: "52:54:00:00:aa:01", Addr: "192.0.2.11/24"}}}
	accel := img.Accel
	t.Logf("QEMU accelerator: %s: %s", accel, img.AccelWhy)
	p, err := ns.Start("qemu-system-x86_64", "-accel", accel, "-m", "128", "-nographic", "-nodefaults", "-no-reboot",
		"-kernel", img.Kernel, "-initrd", img.Initrd, "-append", d.Cmdline(),
		"-serial", "file:"+d.ConsoleLog(),
		"-chardev", "socket,id=ch,path="+d.ChannelSocket()+",server=on,wait=off", "-serial", "chardev:ch",
		"-netdev", "tap,id=n0,ifname=gtap0,script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:00:aa:01")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(d.ConsoleLog())
			t.Logf("qemu: %s\nconsole:\n%s", p.Output(), log)
		}
	})
	if _, err := WaitLog(ctx, d.ConsoleLog(), "vem-guest: up eth0"); err != nil {
		t.Fatal(err)
	}
	t.Logf("booted to eth0 up in %v", time.Since(start).Round(time.Millisecond))
	if err := ns.AddAddr("gtap0", "192.0.2.1/24"); err != nil {
		t.Fatal(err)
	}
	if err := ns.SetUp("gtap0"); err != nil {
		t.Fatal(err)
	}
	res, err := ns.Ping(ctx, "192.0.2.11", 3, 200*time.Millisecond)
	if err != nil || res.Received != 3 {
		t.Fatalf("ping the guest: %+v, %v", res, err)
	}
	c, err := DialConsole(ctx, d.ChannelSocket())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	out, rc, err := c.Run(ctx, "ping -c 2 -W 2 192.0.2.1")
	if err != nil || rc != 0 || !strings.Contains(out, "2 packets received") {
		t.Fatalf("ping from the guest: rc %d, %v:\n%s", rc, err, out)
	}
	if _, rc, err := c.Run(ctx, "false"); err != nil || rc != 1 {
		t.Fatalf("false in the guest: rc %d, %v", rc, err)
	}
}
