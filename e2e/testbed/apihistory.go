package testbed

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// WatchHistory is how long the API server's watch cache keeps every event at least
// (storagebackend.DefaultEventsHistoryWindow, the cache's eventFreshDuration): it doubles its
// capacity rather than drop a fresher event. So a watch from an old resourceVersion gets a 410
// only once the events after it are older than this, and new events have pushed them out.
const WatchHistory = 75 * time.Second

// Filler writes for PushOutOfHistory: batches between two probes, and batches before it
// gives up.
const (
	fillerBatch      = 100
	fillerMaxBatches = 200
)

// probeTimeout bounds one probe watch of PushOutOfHistory: a watch from a resourceVersion
// still in the history answers with the events after it at once, or with nothing if there
// are none.
const probeTimeout = 10 * time.Second

// PushOutOfHistory makes the API server forget resourceVersion rv: it writes filler
// EndpointSlice changes (label patches on an EndpointSlice of no Service, in namespace
// <namespace>-filler, created if need be and left behind) in batches of 100 until a watch on
// the EndpointSlices of namespace from rv is refused with a 410. It returns the number of
// writes. Call it once rv is older than WatchHistory; before that the cache keeps growing.
func (c *Cluster) PushOutOfHistory(ctx context.Context, namespace, rv string) (int, error) {
	ns := namespace + "-filler"
	_, err := c.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return 0, err
	}
	api := c.Admin.DiscoveryV1().EndpointSlices(ns)
	filler := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "filler", Labels: map[string]string{"filler": "0"}},
		AddressType: discoveryv1.AddressTypeIPv4}
	if _, err := api.Create(ctx, filler, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return 0, err
	}
	writes := 1
	for range fillerMaxBatches {
		if expired, err := c.watchExpired(ctx, namespace, rv); err != nil || expired {
			return writes, err
		}
		for range fillerBatch {
			patch := fmt.Appendf(nil, `{"metadata":{"labels":{"filler":"%d"}}}`, writes)
			if _, err := api.Patch(ctx, filler.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				return writes, err
			}
			writes++
		}
	}
	return writes, fmt.Errorf("still no 410 for resourceVersion %s after %d filler writes", rv, writes)
}

// watchExpired reports whether a watch on the EndpointSlices of namespace from rv is refused
// with a 410, as the error of the request or as its first event.
func (c *Cluster) watchExpired(ctx context.Context, namespace, rv string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	w, err := c.Admin.DiscoveryV1().EndpointSlices(namespace).Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
	if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer w.Stop()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			return false, errors.New("probe watch ended without an event")
		}
		return expiredEvent(ev, rv)
	case <-ctx.Done():
		return false, nil // no event since rv in namespace within the probe's time: not a 410
	}
}

// expiredEvent reports whether ev, the first event of a watch from rv, is the API server's
// 410. Any other event but an error means rv is still in the history.
func expiredEvent(ev watch.Event, rv string) (bool, error) {
	if ev.Type != watch.Error {
		return false, nil
	}
	if status, ok := ev.Object.(*metav1.Status); ok && status.Code == http.StatusGone {
		return true, nil
	}
	return false, fmt.Errorf("probe watch from %s: %w", rv, apierrors.FromObject(ev.Object))
}
