package k8s

import (
	"net/netip"
	"slices"

	discoveryv1 "k8s.io/api/discovery/v1"
)

// peerSet reads the ring members out of a Service's EndpointSlices.
type peerSet struct {
	service string
	self    netip.AddrPort
	family  discoveryv1.AddressType // the address family of self
}

func newPeerSet(service string, self netip.AddrPort) peerSet {
	family := discoveryv1.AddressTypeIPv4
	if self.Addr().Is6() {
		family = discoveryv1.AddressTypeIPv6
	}
	return peerSet{service: service, self: self, family: family}
}

// ids returns the sorted ring members for the given slices. An endpoint is a member
// when any slice lists it as ready (or ready unset) and not terminating, so the result
// depends neither on map order nor on which slice an endpoint is moving to. Only slices
// of self's address family count (a dual-stack pod appears once); FQDN slices never do.
// Self is always a member, unless its own endpoint is terminating: then it drains.
func (p peerSet) ids(all map[string]*slice) []string {
	members := make(map[netip.Addr]bool) // address -> usable
	for _, s := range all {
		if !p.counts(s) {
			continue
		}
		for _, e := range s.endpoints {
			if e.addr.IsValid() {
				members[e.addr] = members[e.addr] || e.usable()
			}
		}
	}
	self := p.self.Addr()
	selfUsable, selfSeen := members[self]
	members[self] = selfUsable || !selfSeen || !p.selfTerminating(all)

	port := int(p.self.Port())
	ids := make([]string, 0, len(members))
	for addr, usable := range members {
		if usable {
			ids = append(ids, peerID(addr, port))
		}
	}
	slices.Sort(ids)
	return ids
}

// counts reports whether a slice belongs to the Service and to self's address family.
func (p peerSet) counts(s *slice) bool {
	return s.family == p.family && s.service == p.service
}

// selfTerminating reports whether some slice shows self's endpoint as terminating.
func (p peerSet) selfTerminating(all map[string]*slice) bool {
	for _, s := range all {
		if !p.counts(s) {
			continue
		}
		for _, e := range s.endpoints {
			if e.addr == p.self.Addr() && e.terminating {
				return true
			}
		}
	}
	return false
}
