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
func (p peerSet) ids(all map[string]*discoveryv1.EndpointSlice) []string {
	members := make(map[netip.Addr]bool) // address -> usable
	for _, s := range all {
		if !p.counts(s) {
			continue
		}
		for i := range s.Endpoints {
			addr, usable, ok := endpointState(&s.Endpoints[i])
			if ok {
				members[addr] = members[addr] || usable
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
func (p peerSet) counts(s *discoveryv1.EndpointSlice) bool {
	return s.AddressType == p.family && s.Labels[discoveryv1.LabelServiceName] == p.service
}

// selfTerminating reports whether some slice shows self's endpoint as terminating.
func (p peerSet) selfTerminating(all map[string]*discoveryv1.EndpointSlice) bool {
	for _, s := range all {
		if !p.counts(s) {
			continue
		}
		for i := range s.Endpoints {
			e := &s.Endpoints[i]
			addr, _, ok := endpointState(e)
			if ok && addr == p.self.Addr() && e.Conditions.Terminating != nil && *e.Conditions.Terminating {
				return true
			}
		}
	}
	return false
}

// endpointState returns an endpoint's first address and whether it may serve as a
// peer: ready is true or unset, and terminating is not true. ok is false when the
// endpoint has no parsable address.
func endpointState(e *discoveryv1.Endpoint) (addr netip.Addr, usable, ok bool) {
	if len(e.Addresses) == 0 {
		return netip.Addr{}, false, false
	}
	addr, err := netip.ParseAddr(e.Addresses[0])
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, false, false
	}
	c := e.Conditions
	ready := c.Ready == nil || *c.Ready
	terminating := c.Terminating != nil && *c.Terminating
	return addr.Unmap(), ready && !terminating, true
}

// trimSlice keeps only what peerSet reads: the name, the Service label, the address type
// and each endpoint's first address, readiness and terminating condition. A slice from
// the API server also carries managed fields, owner references, target refs, topology
// and ports; dropping them keeps the stored state to a few dozen bytes per endpoint.
func trimSlice(s *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	t := &discoveryv1.EndpointSlice{AddressType: s.AddressType}
	t.Name = s.Name
	if svc, ok := s.Labels[discoveryv1.LabelServiceName]; ok {
		t.Labels = map[string]string{discoveryv1.LabelServiceName: svc}
	}
	t.Endpoints = make([]discoveryv1.Endpoint, len(s.Endpoints))
	for i := range s.Endpoints {
		e, out := &s.Endpoints[i], &t.Endpoints[i]
		if len(e.Addresses) > 0 {
			out.Addresses = e.Addresses[:1:1]
		}
		out.Conditions.Ready = sharedBool(e.Conditions.Ready)
		out.Conditions.Terminating = sharedBool(e.Conditions.Terminating)
	}
	return t
}

var trueValue, falseValue = true, false

// sharedBool returns a pointer to one of two shared values, so that trimmed endpoints
// allocate nothing for their conditions. The pointees are never written.
func sharedBool(b *bool) *bool {
	switch {
	case b == nil:
		return nil
	case *b:
		return &trueValue
	default:
		return &falseValue
	}
}
