package main

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// The alternative users run today, for the API server's side of the comparison: each pod
// runs a Pod informer on its namespace, filtered by the Service's label selector, and takes
// every pod that is Running, has an IP, is not being deleted and is Ready as a peer, as
// udhos/kubegroup does through udhos/kubepodinformer. Here one goroutine per pod of the
// deployment runs one, each with a client and a connection of its own, as separate pods
// would; the API server sends each the same events.

// podInformer is one pod's informer and the peers it last computed.
type podInformer struct {
	mu      sync.Mutex
	peers   []string // sorted pod IPs
	changed chan struct{}
}

// podInformers are the informers of all pods.
type podInformers struct {
	all    []*podInformer
	cancel context.CancelFunc
}

// startPodInformers starts n Pod informers on namespace with selector, each on a client of
// its own made from config, and waits until every one has synced.
func startPodInformers(ctx context.Context, config *rest.Config, namespace string, selector map[string]string, n int) (*podInformers, error) {
	ctx, cancel := context.WithCancel(ctx)
	in := &podInformers{cancel: cancel}
	sel := labels.SelectorFromSet(selector).String()
	for range n {
		cfg := rest.CopyConfig(config)
		// A dialer of its own keeps client-go from sharing one cached transport, and so
		// one connection, between the informers: separate pods hold separate connections.
		cfg.Dial = (&net.Dialer{Timeout: 30 * time.Second}).DialContext
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			cancel()
			return nil, err
		}
		factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(namespace),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel }))
		pods := factory.Core().V1().Pods()
		inf := &podInformer{changed: make(chan struct{})}
		lister := pods.Lister()
		update := func() { inf.set(readyPeers(lister)) }
		pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { update() },
			UpdateFunc: func(any, any) { update() },
			DeleteFunc: func(any) { update() },
		})
		factory.Start(ctx.Done())
		in.all = append(in.all, inf)
		synced := factory.WaitForCacheSync(ctx.Done())
		for typ, ok := range synced {
			if !ok {
				cancel()
				return nil, fmt.Errorf("the Pod informer for %v did not sync", typ)
			}
		}
	}
	return in, nil
}

// readyPeers is what kubepodinformer reports: the IPs of the pods that are Running, not
// being deleted, and Ready.
func readyPeers(lister interface {
	List(labels.Selector) ([]*corev1.Pod, error)
}) []string {
	pods, _ := lister.List(labels.Everything())
	var ips []string
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ips = append(ips, p.Status.PodIP)
			}
		}
	}
	slices.Sort(ips)
	return ips
}

func (p *podInformer) set(peers []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if slices.Equal(p.peers, peers) {
		return
	}
	p.peers = peers
	close(p.changed)
	p.changed = make(chan struct{})
}

// wait waits until every informer's peers are want (sorted IPs).
func (in *podInformers) wait(ctx context.Context, want []string) error {
	for i, p := range in.all {
		for {
			p.mu.Lock()
			peers, changed := p.peers, p.changed
			p.mu.Unlock()
			if slices.Equal(peers, want) {
				break
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return fmt.Errorf("the Pod informer %d holds %d peers, want %d: %w", i, len(peers), len(want), ctx.Err())
			}
		}
	}
	return nil
}

// stop stops every informer.
func (in *podInformers) stop() { in.cancel() }
