// Package k8stest is a fake Kubernetes API server for the tests of code that uses
// github.com/groupcache-k8s/k8s without a cluster.
//
// client-go's fake clientset cannot drive the library: the library lists and watches
// EndpointSlices through the clientset's REST client, which the fake one does not have.
// Server instead speaks the real REST paths over HTTP (LIST, and WATCH with its event
// stream), so a real clientset from Clientset talks to it as to a kube-apiserver. It holds
// the EndpointSlices of any number of Services; SetPods replaces a Service's pods, and the
// watches in flight see the change as the EndpointSlice controller's MODIFIED event.
//
// It serves EndpointSlices only, without authentication, field selectors, bookmarks or
// compaction: enough for k8s.NewPeersManager and k8s.WatchPeers, not a general fake.
package k8stest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Pod is an endpoint of a Service, as the EndpointSlice controller lists a pod: ready
// and serving unless NotReady, and Terminating while the pod is being deleted (a
// terminating pod may still be serving, which the library treats as a leaving peer).
type Pod struct {
	IP          string // IPv4 or IPv6
	NotReady    bool
	Terminating bool
}

// Server is a fake API server holding EndpointSlices. Its methods are safe for
// concurrent use.
type Server struct {
	http *httptest.Server

	mu      sync.Mutex
	rv      int               // the resourceVersion of the last change
	slices  map[string]*slice // by namespace/name of the Service
	events  []event           // every change, in order
	changed chan struct{}     // closed, and replaced, at every change
	closed  chan struct{}     // closed by Close
	once    sync.Once
}

// slice is a Service's one EndpointSlice, as JSON, and the resourceVersion it has.
type slice struct {
	namespace string
	service   string
	object    json.RawMessage
}

// event is a change of a Service's slice, as a watch sends it.
type event struct {
	rv        int
	namespace string
	service   string
	kind      string // ADDED or MODIFIED
	object    json.RawMessage
}

// NewServer starts a server with no Services. Close it when done (in a test:
// t.Cleanup(s.Close)), after the managers and watchers that use it.
func NewServer() *Server {
	s := &Server{slices: make(map[string]*slice), changed: make(chan struct{}), closed: make(chan struct{})}
	s.http = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Clientset returns a real clientset for the server.
func (s *Server) Clientset() kubernetes.Interface {
	cs, err := kubernetes.NewForConfig(s.Config())
	if err != nil { // only a malformed configuration fails, and Config makes none
		panic("k8stest: " + err.Error())
	}
	return cs
}

// Config returns the client configuration of the server (plain HTTP, no credentials, no
// client-side rate limit).
func (s *Server) Config() *rest.Config { return &rest.Config{Host: s.http.URL, QPS: -1} }

// SetPods makes pods the endpoints of the Service service in namespace, whose pods serve
// on port (the library's groupcache port): one EndpointSlice, replaced whole. The first
// call for a Service adds its slice; later calls modify it.
func (s *Server) SetPods(namespace, service string, port int, pods ...Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rv++
	key := namespace + "/" + service
	kind := "MODIFIED"
	if s.slices[key] == nil {
		kind = "ADDED"
	}
	object, err := json.Marshal(endpointSlice(namespace, service, port, s.rv, pods))
	if err != nil { // the types marshal
		panic("k8stest: " + err.Error())
	}
	s.slices[key] = &slice{namespace: namespace, service: service, object: object}
	s.events = append(s.events, event{rv: s.rv, namespace: namespace, service: service, kind: kind, object: object})
	close(s.changed)
	s.changed = make(chan struct{})
}

// endpointSlice is the slice of pods, as the EndpointSlice controller writes it.
func endpointSlice(namespace, service string, port, rv int, pods []Pod) *discoveryv1.EndpointSlice {
	family := discoveryv1.AddressTypeIPv4
	if len(pods) > 0 && strings.Contains(pods[0].IP, ":") {
		family = discoveryv1.AddressTypeIPv6
	}
	name, protocol, port32 := "groupcache", corev1.ProtocolTCP, int32(port)
	es := &discoveryv1.EndpointSlice{
		TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta: metav1.ObjectMeta{
			Name: service + "-k8stest", Namespace: namespace, ResourceVersion: strconv.Itoa(rv),
			Labels: map[string]string{discoveryv1.LabelServiceName: service},
		},
		AddressType: family,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Protocol: &protocol, Port: &port32}},
	}
	for _, p := range pods {
		ready, serving, terminating := !p.NotReady && !p.Terminating, !p.NotReady, p.Terminating
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{p.IP},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		})
	}
	return es
}

// Close ends the watches in flight and stops the server.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closed)
		s.http.CloseClientConnections()
		s.http.Close()
	})
}

// path is the REST path of the EndpointSlices of a namespace: /apis/discovery.k8s.io/v1/
// namespaces/NS/endpointslices.
const pathPrefix, pathSuffix = "/apis/discovery.k8s.io/v1/namespaces/", "/endpointslices"

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	namespace, ok := strings.CutPrefix(r.URL.Path, pathPrefix)
	if ok {
		namespace, ok = strings.CutSuffix(namespace, pathSuffix)
	}
	if r.Method != http.MethodGet || !ok || strings.Contains(namespace, "/") {
		http.Error(w, "k8stest serves the EndpointSlices of a namespace only", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	service, _ := strings.CutPrefix(q.Get("labelSelector"), discoveryv1.LabelServiceName+"=")
	if q.Get("watch") == "true" {
		s.watch(w, r, namespace, service, q.Get("resourceVersion"))
		return
	}
	s.list(w, namespace, service)
}

// list answers a LIST: the Service's slice, if it has one, at the latest resourceVersion.
func (s *Server) list(w http.ResponseWriter, namespace, service string) {
	s.mu.Lock()
	items := []json.RawMessage{}
	if sl := s.slices[namespace+"/"+service]; sl != nil {
		items = append(items, sl.object)
	}
	rv := s.rv
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSliceList",
		"metadata": map[string]string{"resourceVersion": strconv.Itoa(rv)},
		"items":    items,
	})
}

// watch answers a WATCH from resourceVersion: the Service's changes after it, then each
// later change as it happens, until the client goes, the server closes, or a minute
// passes (the client then watches again, as from a real server's timeout).
func (s *Server) watch(w http.ResponseWriter, r *http.Request, namespace, service, from string) {
	rv, err := strconv.Atoi(from)
	if err != nil {
		http.Error(w, fmt.Sprintf("k8stest: resourceVersion %q", from), http.StatusBadRequest)
		return
	}
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	timeout := time.After(time.Minute)
	for {
		s.mu.Lock()
		var send []event
		for _, e := range s.events {
			if e.rv > rv && e.namespace == namespace && e.service == service {
				send = append(send, e)
			}
		}
		last, changed := s.rv, s.changed
		s.mu.Unlock()
		rv = last
		for _, e := range send {
			if enc.Encode(map[string]any{"type": e.kind, "object": e.object}) != nil {
				return
			}
		}
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		case <-s.closed:
			return
		case <-timeout:
			return
		}
	}
}
