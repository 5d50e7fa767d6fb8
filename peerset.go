package k8s

// The peer set: which endpoints of a Service's EndpointSlices are ring members.

import (
	"log/slog"
	"net/netip"
	"slices"

	discoveryv1 "k8s.io/api/discovery/v1"
)

// peerSet reads the ring members out of a Service's EndpointSlices.
type peerSet struct {
	service string
	self    netip.AddrPort
	family  discoveryv1.AddressType // the address family of self

	mismatched bool // the last slices were all of the other family (warned once)
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

// warnFamilyMismatch logs a warning when the Service has slices but none of self's address
// family: on a dual-stack cluster, an IPv6-only Service with an IPv4 self (or the reverse)
// leaves every pod alone in its ring, sharing nothing. It warns once each time the
// mismatch starts. It is called from the watcher's goroutine only.
func (p *peerSet) warnFamilyMismatch(all map[string]*slice, log *slog.Logger) {
	var other discoveryv1.AddressType
	for _, s := range all {
		if s.service != p.service {
			continue
		}
		if s.family == p.family {
			p.mismatched = false
			return
		}
		if s.family == discoveryv1.AddressTypeIPv4 || s.family == discoveryv1.AddressTypeIPv6 {
			other = s.family
		}
	}
	if other == "" || p.mismatched {
		p.mismatched = other != ""
		return
	}
	p.mismatched = true
	log.Warn("the Service's EndpointSlices are all "+string(other)+" but this pod's address is "+string(p.family)+
		", so this pod sees no peer but itself and shares no cache: pass the pod's "+string(other)+
		" address as self (from status.podIPs), or give the Service the "+string(p.family)+
		" family (spec.ipFamilies, or spec.ipFamilyPolicy: PreferDualStack)",
		"self", p.self.String(), "sliceFamily", string(other), "selfFamily", string(p.family))
}
