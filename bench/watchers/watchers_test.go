package watchers

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	k8s "github.com/groupcache-k8s/k8s"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// The Service every pod belongs to and the port peers use, as in example/k8s.yaml.
const (
	service = "groupcache-example"
	port    = 8081
	// self is the watching process's own address: no pod has it, so our watcher's list is
	// the pods plus self, and self is dropped before comparing.
	self = "192.0.2.254:8081"
)

// watcher is what both implementations offer the benchmarks: the ready peers, and when they
// last changed.
type watcher struct {
	mu      sync.Mutex
	peers   []string
	at      time.Time
	changed chan struct{} // closed and replaced on every change
	stop    func()
}

func newWatcher() *watcher { return &watcher{changed: make(chan struct{})} }

func (w *watcher) set(peers []string) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if slices.Equal(peers, w.peers) {
		return
	}
	w.peers, w.at = peers, now
	close(w.changed)
	w.changed = make(chan struct{})
}

// waitFor waits until the peers are exactly want and returns when they became so.
func (w *watcher) waitFor(ctx context.Context, want []string) (time.Time, error) {
	for {
		w.mu.Lock()
		peers, at, changed := w.peers, w.at, w.changed
		w.mu.Unlock()
		if slices.Equal(peers, want) {
			return at, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("peers %d, want %d: %w", len(peers), len(want), ctx.Err())
		}
	}
}

// impl starts one watcher of a kind on the Service in namespace.
type impl struct {
	name  string
	start func(ctx context.Context, client kubernetes.Interface, namespace string) (*watcher, error)
}

var impls = []impl{{"ours", startOurs}, {"informer", startInformer}}

// startOurs is k8s.WatchPeers, the library's List+Watch loop without the ring or gRPC.
func startOurs(ctx context.Context, client kubernetes.Interface, namespace string) (*watcher, error) {
	w := newWatcher()
	pw, err := k8s.WatchPeers(ctx, client, service, namespace, port, self, func(peers []string) {
		w.set(slices.DeleteFunc(peers, func(p string) bool { return p == self }))
	}, k8s.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return nil, err
	}
	w.stop = func() { pw.Close() }
	return w, nil
}

// startInformer is how the other libraries watch: a SharedInformerFactory limited to the
// Service's EndpointSlices, recomputing the ready peers from its store on every event, with
// the same readiness rule as ours.
func startInformer(ctx context.Context, client kubernetes.Interface, namespace string) (*watcher, error) {
	w := newWatcher()
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = discoveryv1.LabelServiceName + "=" + service
		}))
	inf := factory.Discovery().V1().EndpointSlices().Informer()
	recompute := func() {
		seen := map[string]bool{}
		for _, obj := range inf.GetStore().List() {
			s := obj.(*discoveryv1.EndpointSlice)
			if s.AddressType != discoveryv1.AddressTypeIPv4 {
				continue
			}
			for _, e := range s.Endpoints {
				c := e.Conditions
				if len(e.Addresses) > 0 && (c.Ready == nil || *c.Ready) && (c.Terminating == nil || !*c.Terminating) {
					seen[net.JoinHostPort(e.Addresses[0], strconv.Itoa(port))] = true
				}
			}
		}
		peers := make([]string, 0, len(seen))
		for p := range seen {
			peers = append(peers, p)
		}
		slices.Sort(peers)
		w.set(peers)
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { recompute() },
		UpdateFunc: func(any, any) { recompute() },
		DeleteFunc: func(any) { recompute() },
	})
	if err != nil {
		return nil, err
	}
	stop := make(chan struct{})
	factory.Start(stop)
	synced := factory.WaitForCacheSync(stop)
	for typ, ok := range synced {
		if !ok {
			close(stop)
			return nil, fmt.Errorf("informer for %v did not sync", typ)
		}
	}
	recompute()
	w.stop = func() {
		close(stop)
		factory.Shutdown()
	}
	return w, nil
}
