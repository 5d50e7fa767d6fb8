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

// view is what the slices say about the peers at one moment.
type view struct {
	members   []string // ring members, sorted: self and every usable endpoint
	leaving   []string // terminating but still serving, not members, sorted; never self
	selfReady bool     // some slice lists self as usable: the other pods route to it
}

// equal reports whether two views are the same.
func (v view) equal(o view) bool {
	return v.selfReady == o.selfReady && slices.Equal(v.members, o.members) && slices.Equal(v.leaving, o.leaving)
}

// view returns the ring members and leaving peers for the given slices. An endpoint is a
// member when any slice lists it as usable (serving and not terminating), and leaving
// when it is not a member and some slice lists it as serving and terminating, so the
// result depends neither on map order nor on which slice an endpoint is moving to. Only
// slices of self's address family count (a dual-stack pod appears once); FQDN slices
// never do. Self is always a member, even before it is ready, unless its own endpoint
// is terminating: then it drains.
func (p peerSet) view(all map[string]*slice) view {
	const (
		gone = iota
		leaving
		member
	)
	state := make(map[netip.Addr]int)
	for _, s := range all {
		if !p.counts(s) {
			continue
		}
		for _, e := range s.endpoints {
			if !e.addr.IsValid() {
				continue
			}
			st := gone
			switch {
			case e.usable():
				st = member
			case e.leaving():
				st = leaving
			}
			state[e.addr] = max(state[e.addr], st)
		}
	}
	self := p.self.Addr()
	selfState, selfSeen := state[self]
	v := view{selfReady: selfState == member}
	if selfState == member || !selfSeen || !p.selfTerminating(all) {
		state[self] = member
	} else {
		delete(state, self) // self is never a leaving peer of its own
	}

	port := int(p.self.Port())
	v.members = make([]string, 0, len(state))
	for addr, st := range state {
		switch st {
		case member:
			v.members = append(v.members, peerID(addr, port))
		case leaving:
			v.leaving = append(v.leaving, peerID(addr, port))
		}
	}
	slices.Sort(v.members)
	slices.Sort(v.leaving)
	return v
}

// ids returns the sorted ring members for the given slices (see view).
func (p peerSet) ids(all map[string]*slice) []string { return p.view(all).members }

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
