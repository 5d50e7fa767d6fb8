package testbed

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// The EndpointSlices as the API server holds them, watched and rewritten from outside the pods:
// to time the EndpointSlice controller apart from the pods, and to make it write anew.

// WatchReady watches the EndpointSlices of namespace until ctx ends, and returns a function
// that tells when an endpoint with address addr was first seen ready (zero if not yet).
func (c *Cluster) WatchReady(ctx context.Context, namespace string) (readyAt func(addr string) time.Time, err error) {
	api := c.Admin.DiscoveryV1().EndpointSlices(namespace)
	list, err := api.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	w, err := api.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	seen := map[string]time.Time{}
	go func() {
		<-ctx.Done()
		w.Stop()
	}()
	go func() {
		for ev := range w.ResultChan() {
			s, ok := ev.Object.(*discoveryv1.EndpointSlice)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			now := time.Now()
			mu.Lock()
			for _, addr := range readyAddresses(s) {
				if seen[addr].IsZero() {
					seen[addr] = now
				}
			}
			mu.Unlock()
		}
	}()
	return func(addr string) time.Time {
		mu.Lock()
		defer mu.Unlock()
		return seen[addr]
	}, nil
}

// readyAddresses returns the first address of each ready endpoint of s, as the library reads
// them: a missing ready condition means ready.
func readyAddresses(s *discoveryv1.EndpointSlice) []string {
	var out []string
	for _, e := range s.Endpoints {
		if len(e.Addresses) > 0 && (e.Conditions.Ready == nil || *e.Conditions.Ready) {
			out = append(out, e.Addresses[0])
		}
	}
	return out
}

// RecreateEndpointSlices deletes every EndpointSlice of service in namespace and waits until
// the EndpointSlice controller has created one under a new name; it returns the deleted names.
func (c *Cluster) RecreateEndpointSlices(ctx context.Context, namespace, service string) ([]string, error) {
	api := c.Admin.DiscoveryV1().EndpointSlices(namespace)
	selector := discoveryv1.LabelServiceName + "=" + service
	list, err := api.List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	if len(list.Items) == 0 {
		return nil, fmt.Errorf("service %s has no EndpointSlice", service)
	}
	w, err := api.Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: list.ResourceVersion})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var names []string
	for _, s := range list.Items {
		names = append(names, s.Name)
		if err := api.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, fmt.Errorf("watch on the EndpointSlices of %s ended before a new one was created", service)
			}
			if s, isSlice := ev.Object.(*discoveryv1.EndpointSlice); isSlice && ev.Type == watch.Added && !slices.Contains(names, s.Name) {
				return names, nil
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("no new EndpointSlice for %s after deleting %v: %w", service, names, ctx.Err())
		}
	}
}

// TimeNewService creates a second Service, named probe, that selects the app's pods, and waits
// until the EndpointSlice controller has written an EndpointSlice for it with want ready
// endpoints; it returns how long that took. A test that disturbed the control plane calls it
// to show that the controller works again.
func (a *App) TimeNewService(ctx context.Context, want int) (time.Duration, error) {
	core := a.c.Admin.CoreV1()
	svc, err := core.Services(a.Namespace).Get(ctx, a.Service, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	probe := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "probe"},
		Spec: corev1.ServiceSpec{Selector: svc.Spec.Selector, Ports: svc.Spec.Ports}}
	api := a.c.Admin.DiscoveryV1().EndpointSlices(a.Namespace)
	selector := discoveryv1.LabelServiceName + "=" + probe.Name
	list, err := api.List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return 0, err
	}
	w, err := api.Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: list.ResourceVersion})
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	start := time.Now()
	if _, err := core.Services(a.Namespace).Create(ctx, probe, metav1.CreateOptions{}); err != nil {
		return 0, err
	}
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return 0, errors.New("watch on the EndpointSlices of Service " + probe.Name + " ended")
			}
			s, isSlice := ev.Object.(*discoveryv1.EndpointSlice)
			if isSlice && ev.Type != watch.Deleted && len(readyAddresses(s)) == want {
				return time.Since(start), nil
			}
		case <-ctx.Done():
			return 0, fmt.Errorf("the EndpointSlice controller wrote no EndpointSlice with %d ready endpoints for the new Service %s: %w",
				want, probe.Name, ctx.Err())
		}
	}
}

// SliceEvent is one EndpointSlice event as RecordSlices saw it.
type SliceEvent struct {
	At time.Time
	// Type is ADDED, MODIFIED or DELETED; Slice the slice's name, ResourceVersion its version.
	Type            watch.EventType
	Slice           string
	ResourceVersion string
	// Ready are the first addresses of its ready endpoints (a missing condition is ready);
	// NotReady those of the others, terminating ones included.
	Ready, NotReady []string
}

// Holds reports whether the slice, at this event, lists addr, ready or not.
func (e SliceEvent) Holds(addr string) bool {
	return slices.Contains(e.Ready, addr) || slices.Contains(e.NotReady, addr)
}

// SliceLog is every EndpointSlice event of a namespace from RecordSlices on, for the
// evidence of a transient ring: which slices changed, in which order.
type SliceLog struct {
	mu     sync.Mutex
	events []SliceEvent
}

// Events returns the events so far, in the order they came.
func (l *SliceLog) Events() []SliceEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// RecordSlices watches the EndpointSlices of namespace until ctx ends and records every
// event; the slices that exist at the start are recorded as ADDED.
func (c *Cluster) RecordSlices(ctx context.Context, namespace string) (*SliceLog, error) {
	api := c.Admin.DiscoveryV1().EndpointSlices(namespace)
	list, err := api.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	w, err := api.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		return nil, err
	}
	l := &SliceLog{}
	now := time.Now()
	for i := range list.Items {
		l.events = append(l.events, sliceEvent(now, watch.Added, &list.Items[i]))
	}
	go func() {
		<-ctx.Done()
		w.Stop()
	}()
	go func() {
		for ev := range w.ResultChan() {
			if s, ok := ev.Object.(*discoveryv1.EndpointSlice); ok {
				e := sliceEvent(time.Now(), ev.Type, s)
				l.mu.Lock()
				l.events = append(l.events, e)
				l.mu.Unlock()
			}
		}
	}()
	return l, nil
}

func sliceEvent(at time.Time, typ watch.EventType, s *discoveryv1.EndpointSlice) SliceEvent {
	e := SliceEvent{At: at, Type: typ, Slice: s.Name, ResourceVersion: s.ResourceVersion}
	for _, ep := range s.Endpoints {
		if len(ep.Addresses) == 0 {
			continue
		}
		if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
			e.Ready = append(e.Ready, ep.Addresses[0])
		} else {
			e.NotReady = append(e.NotReady, ep.Addresses[0])
		}
	}
	return e
}

// SliceMoves counts, over events[from:], the endpoints that turned up in another slice than
// the one that listed them last (before or after that slice dropped them), with events[:from]
// telling where each was listed before: the EndpointSlice controller moving endpoints between
// slices. Pod addresses are never given twice, so an address in a new slice is the same pod.
func SliceMoves(events []SliceEvent, from int) int {
	last := map[string]string{} // address -> the slice that listed it last
	moves := 0
	for i, e := range events {
		if e.Type == watch.Deleted {
			continue
		}
		for _, addr := range slices.Concat(e.Ready, e.NotReady) {
			if was, ok := last[addr]; ok && was != e.Slice && i >= from {
				moves++
			}
			last[addr] = e.Slice
		}
	}
	return moves
}
