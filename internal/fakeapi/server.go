// Package fakeapi is the fake Kubernetes API server of the tests of every module in this
// repository: an httptest server speaking the real REST paths of discovery.k8s.io/v1
// EndpointSlices, LIST and WATCH, in one namespace, answering from a Stream, so that a
// real client-go clientset drives the code under test.
package fakeapi

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// stuck is how long WaitCaughtUp waits for what a client does at once.
const stuck = 10 * time.Second

// Server answers the EndpointSlices LIST and WATCH requests of one namespace from a
// Stream. When its LIST answers run out, a further LIST is unexpected; when its WATCH
// answers run out, it holds the next watch open, silent, and reports that the client has
// caught up (CaughtUp).
type Server struct {
	// HTTP is the underlying server; a test may cut connections or close its listener.
	HTTP      *httptest.Server
	namespace string
	report    func(format string, args ...any) // tells of unexpected requests; nil: ignore them
	onHold    func()

	mu       sync.Mutex
	lists    []Answer
	watches  []Answer
	requests []url.Values  // query of every request, in order; "watch" tells them apart
	arrived  chan struct{} // closed, and replaced, when a request arrives

	caughtUp  chan struct{}
	caughtOne sync.Once
	done      chan struct{} // closed by Close: held watches end
	closeOne  sync.Once
}

// New starts a server for namespace answering from stream; the caller closes it.
// Unexpected requests are answered 404, or held open if a LIST comes after the stream's
// last, and are not reported. Tests use Start.
func New(namespace string, stream *Stream) *Server {
	s := &Server{
		namespace: namespace,
		onHold:    stream.OnHold,
		lists:     append([]Answer(nil), stream.Lists...),
		watches:   append([]Answer(nil), stream.Watches...),
		arrived:   make(chan struct{}),
		caughtUp:  make(chan struct{}),
		done:      make(chan struct{}),
	}
	s.HTTP = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Start is New for a test: an unexpected request fails t, and the server is closed when
// the test ends (after the cleanups registered later, such as closing the client).
func Start(t testing.TB, namespace string, stream *Stream) *Server {
	s := New(namespace, stream)
	s.report = t.Errorf
	t.Cleanup(s.Close)
	return s
}

// Path is the REST path of the EndpointSlices of namespace.
func Path(namespace string) string {
	return "/apis/discovery.k8s.io/v1/namespaces/" + namespace + "/endpointslices"
}

// Config is a client configuration for the server, without client-side rate limiting.
func (s *Server) Config() *rest.Config { return &rest.Config{Host: s.HTTP.URL, QPS: -1} }

// Clientset is a real clientset pointed at the server.
func (s *Server) Clientset() kubernetes.Interface {
	cs, err := kubernetes.NewForConfig(s.Config())
	if err != nil { // only a malformed configuration fails, and Config makes none
		panic("fakeapi: " + err.Error())
	}
	return cs
}

// Close ends the watches it holds open and stops the server. Close the clients first:
// it waits for the requests in flight.
func (s *Server) Close() {
	s.closeOne.Do(func() {
		close(s.done)
		s.HTTP.Close()
	})
}

// CaughtUp is closed once the client has consumed every answer of the stream.
func (s *Server) CaughtUp() <-chan struct{} { return s.caughtUp }

// WaitCaughtUp waits until the client has consumed every answer of the stream, failing t
// if it has not within 10 s.
func (s *Server) WaitCaughtUp(t testing.TB) {
	t.Helper()
	select {
	case <-s.caughtUp:
	case <-time.After(stuck):
		t.Fatalf("the client did not consume every answer of the stream within %v", stuck)
	}
}

// WaitWatches waits until the server has received n WATCH requests, failing t if it has
// not within 10 s.
func (s *Server) WaitWatches(t testing.TB, n int) {
	t.Helper()
	timeout := time.After(stuck)
	for {
		s.mu.Lock()
		got, arrived := len(s.queries(true)), s.arrived
		s.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-arrived:
		case <-timeout:
			t.Fatalf("the server received %d WATCH requests within %v; want %d", got, stuck, n)
		}
	}
}

// Lists and Watches return the queries of the LIST and WATCH requests received, in order.
func (s *Server) Lists() []url.Values   { return s.locked(false) }
func (s *Server) Watches() []url.Values { return s.locked(true) }

func (s *Server) locked(watch bool) []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries(watch)
}

// queries returns the queries of the LIST or WATCH requests. s.mu is held.
func (s *Server) queries(watch bool) []url.Values {
	var out []url.Values
	for _, q := range s.requests {
		if (q.Get("watch") == "true") == watch {
			out = append(out, q)
		}
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != Path(s.namespace) {
		s.unexpected("request %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	watching := q.Get("watch") == "true"
	s.mu.Lock()
	s.requests = append(s.requests, q)
	close(s.arrived)
	s.arrived = make(chan struct{})
	queue := &s.lists
	if watching {
		queue = &s.watches
	}
	var a *Answer
	if len(*queue) > 0 {
		a = &(*queue)[0]
		*queue = (*queue)[1:]
	}
	s.mu.Unlock()

	if a == nil {
		if !watching {
			s.unexpected("LIST %v", q)
		}
		s.caughtOne.Do(func() { close(s.caughtUp) })
		s.wait(r) // hold it open, silent, until the client leaves
		return
	}
	if a.Status == 0 { // never answer
		s.hold(r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if a.RetryAfter != "" {
		w.Header().Set("Retry-After", a.RetryAfter)
	}
	w.WriteHeader(a.Status)
	if a.FlushOnce {
		w.Write([]byte(strings.Join(a.Frames, "\n") + "\n"))
	} else {
		for _, frame := range a.Frames {
			w.Write([]byte(frame + "\n"))
			w.(http.Flusher).Flush()
		}
	}
	w.(http.Flusher).Flush()
	if a.Live != nil {
		for {
			select {
			case frame, ok := <-a.Live:
				if !ok {
					return
				}
				w.Write([]byte(frame + "\n"))
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			case <-s.done:
				return
			}
		}
	}
	if a.Hang {
		s.hold(r)
	}
}

// hold keeps a request open, silent, until the client leaves, telling the stream's OnHold.
func (s *Server) hold(r *http.Request) {
	if s.onHold != nil {
		s.onHold()
	}
	s.wait(r)
}

// wait returns when the client leaves or the server closes.
func (s *Server) wait(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.done:
	}
}

func (s *Server) unexpected(format string, args ...any) {
	if s.report != nil {
		s.report("fake API server: unexpected "+format, args...)
	}
}
