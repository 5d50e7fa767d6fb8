package k8s

// Tests of the address: parsing self, IPv4 and IPv6, and fuzzing.

import (
	"fmt"
	"net/netip"
	"testing"
)

func TestParseSelf(t *testing.T) {
	cases := []struct {
		in   string
		want string // canonical id, or "" for an error
	}{
		{"10.0.0.7:8080", "10.0.0.7:8080"},
		{"[fd00::7]:8080", "[fd00::7]:8080"},
		{"fd00::7:8080", "[fd00::7]:8080"},                    // fmt.Sprintf("%s:%d") of an IPv6 address
		{"fd00:0:0:0:0:0:0:7:8080", "[fd00::7]:8080"},         // long form
		{"[FD00:0000::0007]:8080", "[fd00::7]:8080"},          // upper case, leading zeros
		{"[::ffff:10.0.0.7]:8080", "10.0.0.7:8080"},           // IPv4-mapped
		{fmt.Sprintf("%s:%d", "fd00::1", 80), "[fd00::1]:80"}, // what the README snippet produces
		{"cache-0.cache:8080", ""},                            // a name, not an IP
		{"10.0.0.7", ""},                                      // no port
		{"10.0.0.7:0", ""},
		{"10.0.0.7:65536", ""},
		{"10.0.0.7:http", ""},
		{"0.0.0.0:8080", ""},
		{"[::]:8080", ""},
		{"[fe80::1%eth0]:8080", ""},
		{"", ""},
		{":8080", ""},
	}
	for _, tc := range cases {
		ap, err := parseSelf(tc.in)
		got := ""
		if err == nil {
			got = peerID(ap.Addr(), int(ap.Port()))
		}
		if got != tc.want {
			t.Errorf("parseSelf(%q) = %q (err %v), want %q", tc.in, got, err, tc.want)
		}
	}
}

// FuzzParseSelf: never panics, and whatever it accepts is canonical: parsing the id
// again gives the same id, so every pod computes byte-identical ids.
func FuzzParseSelf(f *testing.F) {
	for _, s := range []string{"10.0.0.7:8080", "fd00::7:8080", "[fd00::7]:8080", "[::ffff:1.2.3.4]:1", "a:b:c", "::1:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ap, err := parseSelf(s)
		if err != nil {
			return
		}
		id := peerID(ap.Addr(), int(ap.Port()))
		again, err := parseSelf(id)
		if err != nil {
			t.Fatalf("parseSelf(%q) accepted, but its id %q does not parse: %v", s, id, err)
		}
		if again != ap || peerID(again.Addr(), int(again.Port())) != id {
			t.Fatalf("id of %q is not canonical: %q -> %v", s, id, again)
		}
		if ap.Addr() != ap.Addr().Unmap() || ap.Addr().Zone() != "" || ap.Port() == 0 {
			t.Fatalf("parseSelf(%q) = %v: not a plain endpoint address", s, ap)
		}
		if _, err := netip.ParseAddrPort(id); err != nil {
			t.Fatalf("id %q is not host:port: %v", id, err)
		}
	})
}
