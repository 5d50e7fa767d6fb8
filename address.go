package k8s

// The address: parsing and normalising this pod's own address, and peer ids.

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// parseSelf parses this pod's "host:port" into a canonical address. Besides the usual
// "10.0.0.7:8080" and "[fd00::7]:8080" it accepts the unbracketed "fd00::7:8080" that
// fmt.Sprintf("%s:%d", ip, port) produces for IPv6: the last colon separates the port.
// The host must be an IP address, because peers are found by their endpoint IPs.
func parseSelf(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return canonicalAddrPort(ap.Addr(), ap.Port(), s)
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("self %q: want the pod's IP and port, such as 10.0.0.7:8080", s)
	}
	host, portText := s[:i], s[i+1:]
	addr, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("self %q: host must be the pod's IP address (status.podIP), not a name: %v", s, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("self %q: bad port %q", s, portText)
	}
	return canonicalAddrPort(addr, uint16(port), s)
}

func canonicalAddrPort(addr netip.Addr, port uint16, orig string) (netip.AddrPort, error) {
	addr = addr.Unmap()
	switch {
	case addr.Zone() != "":
		return netip.AddrPort{}, fmt.Errorf("self %q: zoned addresses are not endpoint addresses", orig)
	case addr.IsUnspecified():
		return netip.AddrPort{}, fmt.Errorf("self %q: the unspecified address cannot identify a pod; use status.podIP", orig)
	case port == 0:
		return netip.AddrPort{}, fmt.Errorf("self %q: port must be between 1 and 65535", orig)
	}
	return netip.AddrPortFrom(addr, port), nil
}

// peerID is the ring id of a peer: "10.0.0.7:8080" or "[fd00::7]:8080". Every pod
// builds ids this way, so they are byte-identical across the cluster.
func peerID(addr netip.Addr, port int) string {
	return net.JoinHostPort(addr.String(), strconv.Itoa(port))
}
