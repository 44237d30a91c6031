package spec_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vem-switch/vem/spec"
)

// portAddressSeeds are addresses and prefixes a port or an allowed address
// pair might be written with, good and bad.
var portAddressSeeds = []string{
	"192.0.2.1", "2001:db8::1", "198.51.100.0/24", "2001:db8::/32", "192.0.2.100/32",
	"2001:db8::1/128", "0.0.0.0", "::", "0.0.0.0/0", "::/0", "255.255.255.255",
	"224.0.0.1", "ff02::1", "127.0.0.1", "::1", "fe80::1", "fe80::1%eth0",
	"fe80::/64", "fe80::1%eth0/64", "::ffff:192.0.2.1", "::ffff:192.0.2.0/120",
	"::ffff:0:0/96", "192.0.2.1/24", "2001:db8::1/64", "192.0.2.1/33",
	"2001:db8::/129", "192.0.2.01", "1.2.3", "", " 192.0.2.1", "192.0.2.1 ",
	"192.0.2.1/", "/24", "192.0.2.1/024", "2001:db8::1%", "[2001:db8::1]",
	"2001:0db8:0000:0000:0000:0000:0000:0001", "::ffff:1.2.3.4%x",
}

// FuzzParseAddress: a port address that parses is a plain unicast
// address (no zone, never IPv4-mapped, not unspecified, loopback,
// multicast or the limited broadcast) and reads back from its String.
func FuzzParseAddress(f *testing.F) {
	for _, s := range portAddressSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := spec.ParseAddress(s)
		if err != nil {
			if a.IsValid() {
				t.Fatalf("ParseAddress(%q) failed (%v) but returned %v", s, err, a)
			}
			if !strings.Contains(err.Error(), "address") {
				t.Fatalf("ParseAddress(%q): error %q does not say what is wrong", s, err)
			}
			return
		}
		if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("ParseAddress(%q) = %v: not a plain address", s, a)
		}
		if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			t.Fatalf("ParseAddress(%q) = %v: not unicast", s, a)
		}
		// What parses is what netip reads, unmapped.
		if want, err := netip.ParseAddr(s); err != nil || want.Unmap() != a {
			t.Fatalf("ParseAddress(%q) = %v, netip reads %v (%v)", s, a, want, err)
		}
		b, err := spec.ParseAddress(a.String())
		if err != nil || b != a {
			t.Fatalf("ParseAddress(%q) = %v, whose String parses to %v (%v)", s, a, b, err)
		}
	})
}

// FuzzParsePairPrefix: an allowed pair's IP that parses is a valid,
// masked prefix with no zone and no IPv4-mapped address, a single address
// exactly when written without a length, and reads back from its String.
func FuzzParsePairPrefix(f *testing.F) {
	for _, s := range portAddressSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := spec.ParsePairPrefix(s)
		if err != nil {
			if p.IsValid() {
				t.Fatalf("ParsePairPrefix(%q) failed (%v) but returned %v", s, err, p)
			}
			return
		}
		a := p.Addr()
		if !p.IsValid() || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("ParsePairPrefix(%q) = %v: not a plain prefix", s, p)
		}
		if p.Masked() != p {
			t.Fatalf("ParsePairPrefix(%q) = %v has host bits set", s, p)
		}
		if p.Bits() < 0 || p.Bits() > a.BitLen() {
			t.Fatalf("ParsePairPrefix(%q) = %v: length outside 0..%d", s, p, a.BitLen())
		}
		if !strings.Contains(s, "/") && !p.IsSingleIP() {
			t.Fatalf("ParsePairPrefix(%q) = %v: an address must be a host prefix", s, p)
		}
		q, err := spec.ParsePairPrefix(p.String())
		if err != nil || q != p {
			t.Fatalf("ParsePairPrefix(%q) = %v, whose String parses to %v (%v)", s, p, q, err)
		}
		// A single address also reads back from the address alone, as a
		// profile would write it.
		if p.IsSingleIP() {
			if q, err := spec.ParsePairPrefix(a.String()); err != nil || q != p {
				t.Fatalf("ParsePairPrefix(%q) = %v, but %s parses to %v (%v)", s, p, a, q, err)
			}
		}
	})
}
