package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
)

// scenario is one recorded stream file.
type scenario struct {
	file    string
	comment string
	run     func(ctx context.Context, r *recorder) ([]section, error)
}

var scenarios = []scenario{
	{"real_lifecycle.txt", `A Service's life, as kube-apiserver sends it: two ready pods listed; a third joins; two more
join; one turns not ready and ready again; one is deleted gracefully (terminating), then
removed; one is deleted at once; then the server's periodic bookmark.
Pods: a 10.0.0.1, b 10.0.0.2, c 10.0.0.3, d 10.0.0.4, e 10.0.0.5. Ends with b, c, d ready.`, lifecycle},
	{"real_expired.txt", `A watch that was away too long: two pods listed, a third joins on the first watch. While
the client is away, pod a is deleted and the EndpointSlice itself is deleted and recreated
by the controller under a new name; the API server's watch history moves past the client's
resourceVersion and etcd is compacted. The next watch gets the server's 410 (an ERROR
event), the relist shows b and c in the new slice, and a fourth pod d joins on the last
watch. Ends with b, c, d ready; a and the old slice are gone.`, expired},
	{"real_dual_stack.txt", `A dual-stack Service (RequireDualStack): two pods with an IPv4 and an IPv6 address each,
so the controller writes one slice per family; b turns not ready and ready again, and the
controller updates both slices. Pods: a 10.0.0.1 / fd00::1, b 10.0.0.2 / fd00::2.`, dualStack},
	{"real_publish_not_ready.txt", `A Service with publishNotReadyAddresses: true, so the controller writes every endpoint
with ready=true and only serving says whether the pod is Ready. a and b are listed ready
(ready, serving, not terminating). c joins Running but not Ready: ready=true, serving=false.
c turns Ready: serving=true. b is deleted gracefully: ready=true (publishNotReadyAddresses
keeps it ready even while terminating), serving=true, terminating=true. b turns not ready
while terminating: ready=true, serving=false, terminating=true. b is removed.
Pods: a 10.0.0.1, b 10.0.0.2, c 10.0.0.3. Ends with a and c ready and serving.`, publishNotReady},
}

const (
	a, b, c, d, e = "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"
)

// begin creates the Service as opts say and pods a and b with the given addresses, LISTs
// once the slices show both ready, and opens a watch from that LIST.
func (r *recorder) begin(ctx context.Context, opts serviceOptions, aIPs, bIPs []string) (string, *watchStream, error) {
	if err := r.createService(ctx, opts); err != nil {
		return "", nil, err
	}
	if err := r.startPod(ctx, "a", aIPs...); err != nil {
		return "", nil, err
	}
	if err := r.startPod(ctx, "b", bIPs...); err != nil {
		return "", nil, err
	}
	list, state, rv, err := r.listUntil(ctx, readyIs(append(slices.Clone(aIPs), bIPs...)...))
	if err != nil {
		return "", nil, err
	}
	w, err := r.watch(ctx, rv, state)
	return list, w, err
}

// step is one change a scenario makes, and the state of the watched slices that shows it.
type step struct {
	what string
	do   func() error
	done func(endpointsState) bool
}

// run makes each change in turn and records the watch until it shows the change.
func (w *watchStream) run(ctx context.Context, steps []step) error {
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
		if err := w.until(ctx, s.what, "", s.done); err != nil {
			return err
		}
	}
	return nil
}

func lifecycle(ctx context.Context, r *recorder) ([]section, error) {
	list, w, err := r.begin(ctx, serviceOptions{}, []string{a}, []string{b})
	if err != nil {
		return nil, err
	}
	defer w.close()
	steps := []step{
		{"c joins", func() error { return r.startPod(ctx, "c", c) }, readyIs(a, b, c)},
		{"d and e join", func() error {
			if err := r.startPod(ctx, "d", d); err != nil {
				return err
			}
			return r.startPod(ctx, "e", e)
		}, readyIs(a, b, c, d, e)},
		{"d not ready", func() error { return r.setReady(ctx, "d", false, d) },
			func(s endpointsState) bool { return readyIs(a, b, c, e)(s) && s.has(d) }},
		{"d ready again", func() error { return r.setReady(ctx, "d", true, d) }, readyIs(a, b, c, d, e)},
		{"e deleted gracefully", func() error { return r.deletePod(ctx, "e", 30) },
			func(s endpointsState) bool { return s.terminating(e) }},
		{"e removed", func() error { return r.deletePod(ctx, "e", 0) },
			func(s endpointsState) bool { return !s.has(e) }},
		{"a deleted at once", func() error { return r.deletePod(ctx, "a", 0) },
			func(s endpointsState) bool { return !s.has(a) && readyIs(b, c, d)(s) }},
	}
	if err := w.run(ctx, steps); err != nil {
		return nil, err
	}
	fmt.Fprintln(os.Stderr, "record: waiting for the server's bookmark (about a minute) ...")
	if err := w.until(ctx, "a bookmark", "BOOKMARK", nil); err != nil {
		return nil, err
	}
	return []section{{"list", []string{list}}, {"watch", w.frames}}, nil
}

func expired(ctx context.Context, r *recorder) ([]section, error) {
	list1, w1, err := r.begin(ctx, serviceOptions{}, []string{a}, []string{b})
	if err != nil {
		return nil, err
	}
	if err := r.startPod(ctx, "c", c); err != nil {
		return nil, err
	}
	if err := w1.until(ctx, "c joins", "", readyIs(a, b, c)); err != nil {
		return nil, err
	}
	w1.close()
	awaySince := time.Now()

	// Away: a goes, and the slice is deleted and recreated by the controller.
	if err := r.deletePod(ctx, "a", 0); err != nil {
		return nil, err
	}
	if _, err := r.c.RecreateEndpointSlices(ctx, namespace, service); err != nil {
		return nil, err
	}
	if _, _, _, err := r.listUntil(ctx, readyIs(b, c)); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "record: waiting out the API server's watch history (%v) ...\n", testbed.WatchHistory)
	select {
	case <-time.After(time.Until(awaySince.Add(testbed.WatchHistory + time.Second))):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	writes, err := r.c.PushOutOfHistory(ctx, namespace, w1.rv)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "record: resourceVersion %s left the watch history after %d writes\n", w1.rv, writes)
	if _, err := r.c.CompactEtcd(ctx); err != nil {
		return nil, err
	}
	w2, err := r.watch(ctx, w1.rv, w1.state)
	if err != nil {
		return nil, err
	}
	if err := w2.until(ctx, "the 410", "ERROR", nil); err != nil {
		return nil, err
	}
	w2.close()
	list2, state2, rv2, err := r.listUntil(ctx, readyIs(b, c))
	if err != nil {
		return nil, err
	}
	w3, err := r.watch(ctx, rv2, state2)
	if err != nil {
		return nil, err
	}
	defer w3.close()
	if err := r.startPod(ctx, "d", d); err != nil {
		return nil, err
	}
	if err := w3.until(ctx, "d joins", "", readyIs(b, c, d)); err != nil {
		return nil, err
	}
	return []section{
		{"list", []string{list1}}, {"watch", w1.frames}, {"watch", w2.frames},
		{"list", []string{list2}}, {"watch", w3.frames},
	}, nil
}

func dualStack(ctx context.Context, r *recorder) ([]section, error) {
	list, w, err := r.begin(ctx, serviceOptions{dualStack: true}, []string{a, "fd00::1"}, []string{b, "fd00::2"})
	if err != nil {
		return nil, err
	}
	defer w.close()
	if err := r.setReady(ctx, "b", false, b, "fd00::2"); err != nil {
		return nil, err
	}
	if err := w.until(ctx, "b not ready", "", readyIs(a, "fd00::1")); err != nil {
		return nil, err
	}
	if err := r.setReady(ctx, "b", true, b, "fd00::2"); err != nil {
		return nil, err
	}
	if err := w.until(ctx, "b ready again", "", readyIs(a, b, "fd00::1", "fd00::2")); err != nil {
		return nil, err
	}
	return []section{{"list", []string{list}}, {"watch", w.frames}}, nil
}

func publishNotReady(ctx context.Context, r *recorder) ([]section, error) {
	list, w, err := r.begin(ctx, serviceOptions{publishNotReady: true}, []string{a}, []string{b})
	if err != nil {
		return nil, err
	}
	defer w.close()
	steps := []step{
		{"c joins not ready", func() error { return r.createPod(ctx, "c", false, c) },
			conditionsAre(c, true, false, false)},
		{"c ready", func() error { return r.setReady(ctx, "c", true, c) },
			conditionsAre(c, true, true, false)},
		{"b deleted gracefully", func() error { return r.deletePod(ctx, "b", 30) },
			conditionsAre(b, true, true, true)},
		{"b not ready while terminating", func() error { return r.setReady(ctx, "b", false, b) },
			conditionsAre(b, true, false, true)},
		{"b removed", func() error { return r.deletePod(ctx, "b", 0) },
			func(s endpointsState) bool { return !s.has(b) }},
	}
	if err := w.run(ctx, steps); err != nil {
		return nil, err
	}
	return []section{{"list", []string{list}}, {"watch", w.frames}}, nil
}
