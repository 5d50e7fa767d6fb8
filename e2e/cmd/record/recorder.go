package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The unit tests replay every stream as namespace "shop", Service "cache".
const (
	namespace = "shop"
	service   = "cache"
	selector  = discoveryv1.LabelServiceName + "=" + service
)

// recorder plays the kubelet for pods that need no process (nothing connects to them) and
// makes the LIST and WATCH requests the library makes, keeping the raw answers.
type recorder struct {
	c *testbed.Cluster
}

func (r *recorder) setup(ctx context.Context) error {
	core := r.c.Admin.CoreV1()
	if _, err := core.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	// Pods run as the default ServiceAccount, which no controller creates here.
	_, err := core.ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	return err
}

// serviceOptions is how a scenario's Service differs from the plain single-stack one.
type serviceOptions struct {
	dualStack bool // RequireDualStack, IPv4 and IPv6
	// publishNotReady sets spec.publishNotReadyAddresses: the controller then writes every
	// endpoint with ready=true, and serving says whether the pod is Ready.
	publishNotReady bool
}

// createService creates the Service as opts say.
func (r *recorder) createService(ctx context.Context, opts serviceOptions) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: service},
		Spec: corev1.ServiceSpec{
			Selector:                 map[string]string{"app": service},
			Ports:                    []corev1.ServicePort{{Name: "grpc", Port: 8080, TargetPort: intstr.FromInt32(8080)}},
			PublishNotReadyAddresses: opts.publishNotReady,
		},
	}
	if opts.dualStack {
		policy := corev1.IPFamilyPolicyRequireDualStack
		svc.Spec.IPFamilyPolicy = &policy
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	}
	_, err := r.c.Admin.CoreV1().Services(namespace).Create(ctx, svc, metav1.CreateOptions{})
	return err
}

// reset removes every pod, the Service and its EndpointSlices (no garbage collector runs).
func (r *recorder) reset(ctx context.Context) error {
	zero := int64(0)
	core := r.c.Admin.CoreV1()
	if err := core.Pods(namespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil {
		return err
	}
	if err := core.Services(namespace).Delete(ctx, service, metav1.DeleteOptions{}); err != nil {
		return err
	}
	return r.c.Admin.DiscoveryV1().EndpointSlices(namespace).DeleteCollection(ctx, metav1.DeleteOptions{},
		metav1.ListOptions{LabelSelector: selector})
}

// startPod creates a pod on the node and marks it Running and Ready with ips.
func (r *recorder) startPod(ctx context.Context, name string, ips ...string) error {
	return r.createPod(ctx, name, true, ips...)
}

// createPod creates a pod on the node and marks it Running with ips, Ready or not.
func (r *recorder) createPod(ctx context.Context, name string, ready bool, ips ...string) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": service}},
		Spec: corev1.PodSpec{NodeName: testbed.NodeName, Containers: []corev1.Container{{
			Name: "cache", Image: "cache", Ports: []corev1.ContainerPort{{Name: "grpc", ContainerPort: 8080}},
		}}},
	}
	if _, err := r.c.Admin.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return err
	}
	return testbed.PatchPodStatus(ctx, r.c.Admin, namespace, name, ready, ips...)
}

func (r *recorder) setReady(ctx context.Context, name string, ready bool, ips ...string) error {
	return testbed.PatchPodStatus(ctx, r.c.Admin, namespace, name, ready, ips...)
}

func (r *recorder) deletePod(ctx context.Context, name string, grace int64) error {
	return r.c.Admin.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
}

// list makes the library's LIST and returns the body as the server sent it and its
// resourceVersion.
func (r *recorder) list(ctx context.Context) (string, endpointsState, string, error) {
	body, err := r.c.Admin.DiscoveryV1().RESTClient().Get().Namespace(namespace).Resource("endpointslices").
		Param("labelSelector", selector).SetHeader("Accept", "application/json").DoRaw(ctx)
	if err != nil {
		return "", nil, "", err
	}
	var list discoveryv1.EndpointSliceList
	if err := json.Unmarshal(body, &list); err != nil {
		return "", nil, "", err
	}
	state := endpointsState{}
	for i := range list.Items {
		state.apply("ADDED", &list.Items[i])
	}
	return string(bytes.TrimSpace(body)), state, list.ResourceVersion, nil
}

// listUntil lists until the state satisfies cond, and returns that LIST.
func (r *recorder) listUntil(ctx context.Context, cond func(endpointsState) bool) (string, endpointsState, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		body, state, rv, err := r.list(ctx)
		if err != nil {
			return "", nil, "", err
		}
		if cond(state) {
			return body, state, rv, nil
		}
		select {
		case <-ctx.Done():
			return "", nil, "", fmt.Errorf("the EndpointSlices never reached the wanted state: %v", state)
		case <-time.After(50 * time.Millisecond): // the controller has no signal for us but the slices
		}
	}
}

// watchStream is one open WATCH, as the library makes it, and the frames read so far.
type watchStream struct {
	body   io.ReadCloser
	lines  chan string
	frames []string
	state  endpointsState
	rv     string // resourceVersion of the last frame
}

func (r *recorder) watch(ctx context.Context, rv string, state endpointsState) (*watchStream, error) {
	body, err := r.c.Admin.DiscoveryV1().RESTClient().Get().Namespace(namespace).Resource("endpointslices").
		Param("watch", "true").Param("resourceVersion", rv).Param("allowWatchBookmarks", "true").
		Param("labelSelector", selector).Param("timeoutSeconds", "600").
		SetHeader("Accept", "application/json").Stream(ctx)
	if err != nil {
		return nil, err
	}
	w := &watchStream{body: body, lines: make(chan string), state: state.clone(), rv: rv}
	go func() {
		defer close(w.lines)
		sc := bufio.NewScanner(body)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
	}()
	return w, nil
}

// frame is a watch event as the library decodes it.
type frame struct {
	Type   string                    `json:"type"`
	Object discoveryv1.EndpointSlice `json:"object"`
}

// until reads frames until cond holds for the state they build (or, with cond nil, until
// one frame of type stopType arrives).
func (w *watchStream) until(ctx context.Context, what string, stopType string, cond func(endpointsState) bool) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for {
		if cond != nil && cond(w.state) {
			return nil
		}
		select {
		case line, ok := <-w.lines:
			if !ok {
				return fmt.Errorf("watch ended waiting for %s", what)
			}
			w.frames = append(w.frames, line)
			var f frame
			if err := json.Unmarshal([]byte(line), &f); err != nil {
				return fmt.Errorf("frame %q: %w", line, err)
			}
			if f.Type != "ERROR" {
				w.rv = f.Object.ResourceVersion
				w.state.apply(f.Type, &f.Object)
			}
			if f.Type == stopType {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (state %v)", what, ctx.Err(), w.state)
		}
	}
}

func (w *watchStream) close() { w.body.Close() }

// endpointsState is what the slices say: by slice name, each address's conditions.
type endpointsState map[string]map[string]discoveryv1.EndpointConditions

func (s endpointsState) apply(kind string, slice *discoveryv1.EndpointSlice) {
	switch kind {
	case "ADDED", "MODIFIED":
		eps := map[string]discoveryv1.EndpointConditions{}
		for _, ep := range slice.Endpoints {
			for _, a := range ep.Addresses {
				eps[a] = ep.Conditions
			}
		}
		s[slice.Name] = eps
	case "DELETED":
		delete(s, slice.Name)
	}
}

func (s endpointsState) clone() endpointsState {
	out := endpointsState{}
	for k, v := range s {
		out[k] = v
	}
	return out
}

// ready returns the ready addresses, sorted.
func (s endpointsState) ready() []string {
	var out []string
	for _, eps := range s {
		for a, c := range eps {
			if c.Ready == nil || *c.Ready {
				out = append(out, a)
			}
		}
	}
	slices.Sort(out)
	return out
}

// has reports whether addr is listed (in any condition); terminating whether it is listed as
// terminating.
func (s endpointsState) has(addr string) bool {
	for _, eps := range s {
		if _, ok := eps[addr]; ok {
			return true
		}
	}
	return false
}

func (s endpointsState) terminating(addr string) bool {
	for _, eps := range s {
		if c, ok := eps[addr]; ok && c.Terminating != nil && *c.Terminating {
			return true
		}
	}
	return false
}

// readyIs is a condition: exactly these addresses are ready.
func readyIs(addrs ...string) func(endpointsState) bool {
	slices.Sort(addrs)
	return func(s endpointsState) bool { return slices.Equal(s.ready(), addrs) }
}

// conditionsAre is a condition: addr is listed with exactly these ready, serving and
// terminating conditions (all three set).
func conditionsAre(addr string, ready, serving, terminating bool) func(endpointsState) bool {
	is := func(p *bool, want bool) bool { return p != nil && *p == want }
	return func(s endpointsState) bool {
		for _, eps := range s {
			if c, ok := eps[addr]; ok && is(c.Ready, ready) && is(c.Serving, serving) && is(c.Terminating, terminating) {
				return true
			}
		}
		return false
	}
}
