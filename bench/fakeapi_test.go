package bench

// A stand-in for kube-apiserver, enough to drive a real k8s.PeersManager: the shared fake
// (internal/fakeapi) answering the EndpointSlice LIST of one Service from a fixed set of
// endpoints, and holding the WATCH open, sending only the frames the benchmark pushes
// (membership changes).
// It is not a test of the watcher (the root's tests do that); it only lets the
// benchmarks build the manager's ring the way a pod does, through the public API.

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"time"

	k8s "github.com/groupcache-k8s/k8s"
	"github.com/groupcache-k8s/k8s/internal/fakeapi"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

const (
	benchNamespace = "bench"
	benchService   = "cache"
	// endpointsPerSlice is what the EndpointSlice controller puts in one slice by default.
	endpointsPerSlice = 100
)

// benchAPI is the shared fake API server (internal/fakeapi) serving one Service's
// EndpointSlices: its LIST answers the slices it was made with, at resourceVersion 1; its
// WATCH stays open and sends the frames given to push.
type benchAPI struct {
	*fakeapi.Server
	live chan string
}

// newBenchAPI serves a LIST of the given endpoint IPs (all ready), split into slices of
// endpointsPerSlice as the EndpointSlice controller does.
func newBenchAPI(ips []string) *benchAPI { return newBenchAPIOf(endpointSlices(ips, "1")) }

// newBenchAPIOf serves a LIST of the given slices. Close it once the managers that use it
// are closed.
func newBenchAPIOf(items []discoveryv1.EndpointSlice) *benchAPI {
	ptrs := make([]*discoveryv1.EndpointSlice, len(items))
	for i := range items {
		ptrs[i] = &items[i]
	}
	live := make(chan string)
	return &benchAPI{Server: fakeapi.New(benchNamespace, fakeapi.Listing(1, ptrs...).WithLive(live)), live: live}
}

// push sends one frame to the open watch. It waits until the watch takes it.
func (a *benchAPI) push(ctx context.Context, frame string) error {
	select {
	case a.live <- frame:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// endpointSlices splits ips into slices named cache-0, cache-1, ...
func endpointSlices(ips []string, resourceVersion string) []discoveryv1.EndpointSlice {
	var out []discoveryv1.EndpointSlice
	for i := 0; i < len(ips); i += endpointsPerSlice {
		out = append(out, endpointSlice(i/endpointsPerSlice, ips[i:min(i+endpointsPerSlice, len(ips))], resourceVersion))
	}
	return out
}

func endpointSlice(index int, ips []string, resourceVersion string) discoveryv1.EndpointSlice {
	ready := true
	s := discoveryv1.EndpointSlice{
		TypeMeta: metav1.TypeMeta{Kind: "EndpointSlice", APIVersion: "discovery.k8s.io/v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            benchService + "-" + strconv.Itoa(index),
			Namespace:       benchNamespace,
			ResourceVersion: resourceVersion,
			Labels:          map[string]string{discoveryv1.LabelServiceName: benchService},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, ip := range ips {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
		})
	}
	return s
}

// withNotReady returns s with the endpoint of ip listed but not ready, as the
// EndpointSlice controller lists a pod whose readiness probe has not passed yet.
func withNotReady(s discoveryv1.EndpointSlice, ip string) discoveryv1.EndpointSlice {
	no := false
	s.Endpoints = slices.Clone(s.Endpoints)
	for i, e := range s.Endpoints {
		if slices.Contains(e.Addresses, ip) {
			s.Endpoints[i].Conditions = discoveryv1.EndpointConditions{Ready: &no, Serving: &no, Terminating: &no}
		}
	}
	return s
}

// withLeaving returns s with the endpoint of ip serving and terminating, not ready, as
// the EndpointSlice controller lists a pod whose graceful delete has begun.
func withLeaving(s discoveryv1.EndpointSlice, ip string) discoveryv1.EndpointSlice {
	no, yes := false, true
	s.Endpoints = slices.Clone(s.Endpoints)
	for i, e := range s.Endpoints {
		if slices.Contains(e.Addresses, ip) {
			s.Endpoints[i].Conditions = discoveryv1.EndpointConditions{Ready: &no, Serving: &yes, Terminating: &yes}
		}
	}
	return s
}

// modifiedFrame is the watch frame that replaces slice index with one holding ips.
func modifiedFrame(index int, ips []string, resourceVersion int) string {
	s := endpointSlice(index, ips, "")
	return fakeapi.EventFrame(watch.Modified, resourceVersion, &s)
}

// benchManager is a PeersManager of a Service whose endpoints are ips (self among them
// or not), together with the fake API server it watches.
type benchManager struct {
	*k8s.PeersManager
	api *benchAPI
}

// quietLogs discards a manager's or watcher's logs, which by default go to slog.Default()
// and would land among the benchmark results. newPickerManager passes a logger of its own.
var quietLogs = k8s.WithLogger(slog.New(slog.DiscardHandler))

// benchWatchOptions are the options of every watcher of a fake API server, followed by
// opts: the watch idle timeout is raised so that a quiet benchmark never sees a watch
// restart.
func benchWatchOptions(opts ...k8s.Option) []k8s.Option {
	return append([]k8s.Option{k8s.WithWatchIdleTimeout(time.Hour), k8s.WithStartupTimeout(10 * time.Second)}, opts...)
}

// newBenchManager starts a manager for self ("ip:port") and the Service endpoints ips,
// all on port, with benchWatchOptions(opts...).
func newBenchManager(ips []string, port int, self string, opts ...k8s.Option) (*benchManager, error) {
	return newBenchManagerOf(endpointSlices(ips, "1"), port, self, opts...)
}

// newBenchManagerOf is newBenchManager for a Service whose EndpointSlices are items.
func newBenchManagerOf(items []discoveryv1.EndpointSlice, port int, self string, opts ...k8s.Option) (*benchManager, error) {
	api := newBenchAPIOf(items)
	m, err := k8s.NewPeersManager(context.Background(), api.Clientset(), benchService, benchNamespace, port, self, benchWatchOptions(opts...)...)
	if err != nil {
		api.Close()
		return nil, err
	}
	return &benchManager{PeersManager: m, api: api}, nil
}

// Close stops the manager, then the fake API server.
func (b *benchManager) Close() error {
	err := b.PeersManager.Close()
	b.api.Close()
	return err
}
