package k8s

// The wire: what is decoded of the API server's EndpointSlices, lists and watch events,
// and what is kept of a slice.

import (
	"encoding/json"
	"fmt"
	"net/netip"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// slice is what the watcher keeps of one EndpointSlice: only what peerSet reads. A slice
// from the API server also carries managed fields, owner and target references,
// topology and ports; none of it is decoded.
type slice struct {
	name, resourceVersion string
	service               string // the kubernetes.io/service-name label
	family                discoveryv1.AddressType
	endpoints             []endpoint
}

// endpoint is one endpoint of a slice: its first address (invalid when missing or not an
// IP without zone, so that it never counts) and its conditions.
type endpoint struct {
	addr        netip.Addr
	serving     bool // serving is true; unset, ready is true; both unset
	terminating bool // terminating is true
}

// usable reports whether the endpoint is a ring member: serving and not terminating.
// serving, not ready, is what counts: with publishNotReadyAddresses a Service's ready
// condition is true even for pods whose readiness probe fails, while serving follows
// the pod's readiness. Clusters that predate serving set only ready, which then decides.
func (e endpoint) usable() bool { return e.serving && !e.terminating }

// leaving reports whether the endpoint belongs to a pod that is shutting down but still
// serves: not a ring member, but it can still answer peeks (see handoff.go).
func (e endpoint) leaving() bool { return e.serving && e.terminating }

// wireSlice is the part of an EndpointSlice's JSON that is decoded.
type wireSlice struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name            string `json:"name"`
		ResourceVersion string `json:"resourceVersion"`
		Labels          struct {
			Service string `json:"kubernetes.io/service-name"`
		} `json:"labels"`
	} `json:"metadata"`
	AddressType discoveryv1.AddressType `json:"addressType"`
	Endpoints   []struct {
		Addresses  []string `json:"addresses"`
		Conditions struct {
			Ready       *bool `json:"ready"`
			Serving     *bool `json:"serving"`
			Terminating *bool `json:"terminating"`
		} `json:"conditions"`
	} `json:"endpoints"`
}

// wireList is the part of an EndpointSliceList's JSON that is decoded.
type wireList struct {
	Metadata struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Items []wireSlice `json:"items"`
}

// compact turns a decoded slice into what is kept of it.
func (w *wireSlice) compact() *slice {
	s := &slice{
		name: w.Metadata.Name, resourceVersion: w.Metadata.ResourceVersion,
		service: w.Metadata.Labels.Service, family: w.AddressType,
		endpoints: make([]endpoint, len(w.Endpoints)),
	}
	for i, e := range w.Endpoints {
		c := e.Conditions
		serving := c.Serving
		if serving == nil {
			serving = c.Ready
		}
		s.endpoints[i] = endpoint{
			serving:     serving == nil || *serving,
			terminating: c.Terminating != nil && *c.Terminating,
		}
		if len(e.Addresses) > 0 {
			if addr, err := netip.ParseAddr(e.Addresses[0]); err == nil && addr.Zone() == "" {
				s.endpoints[i].addr = addr.Unmap()
			}
		}
	}
	return s
}

// rawEvent is one frame of a JSON watch stream.
type rawEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

type eventKind int

const (
	eventUpsert eventKind = iota
	eventDeleted
	eventBookmark
)

type event struct {
	kind  eventKind
	slice *slice
}

// decodeEvent turns a frame into an event. An ERROR frame becomes the API error it
// carries; a frame that is not a well-formed EndpointSlice event is an error.
func decodeEvent(raw rawEvent) (event, error) {
	var kind eventKind
	switch raw.Type {
	case "ADDED", "MODIFIED":
		kind = eventUpsert
	case "DELETED":
		kind = eventDeleted
	case "BOOKMARK":
		kind = eventBookmark
	case "ERROR":
		var status metav1.Status
		if err := json.Unmarshal(raw.Object, &status); err != nil || status.Status == "" && status.Code == 0 {
			return event{}, fmt.Errorf("undecodable ERROR event: %.200s", raw.Object)
		}
		if status.Status == "" {
			status.Status = metav1.StatusFailure
		}
		if status.Message == "" {
			status.Message = fmt.Sprintf("watch ERROR event with reason %q and code %d", status.Reason, status.Code)
		}
		return event{}, apierrors.FromObject(&status)
	default:
		return event{}, fmt.Errorf("unknown watch event type %q", raw.Type)
	}
	var s wireSlice
	if err := json.Unmarshal(raw.Object, &s); err != nil {
		return event{}, fmt.Errorf("undecodable %s event: %w", raw.Type, err)
	}
	if s.Kind != "" && s.Kind != "EndpointSlice" {
		return event{}, fmt.Errorf("%s event carries a %s, not an EndpointSlice", raw.Type, s.Kind)
	}
	if kind != eventBookmark && s.Metadata.Name == "" {
		return event{}, fmt.Errorf("%s event carries an EndpointSlice without a name", raw.Type)
	}
	return event{kind: kind, slice: s.compact()}, nil
}
