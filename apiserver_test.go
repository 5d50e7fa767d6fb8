package k8s

// The fake API server of the tests: it replays stream files on the real REST paths, and
// builds the frames of slices made in code.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// A stream file (testdata/streams/*.txt) is what an API server sends: a comment, then
// sections "-- list --" or "-- watch --", each answering the next LIST or WATCH
// request in order. Header words after the kind: status=N (an error answer whose body
// is a Status; status=0 sends nothing, not even headers), retry-after=N, end=hang (keep the watch open and silent until the
// client leaves), flush=once (send the whole watch in one write; by default each
// frame is flushed on its own).
type streamFile struct {
	comment string
	lists   []answer
	watches []answer
	// onHold, if set, is called when the server starts holding a watch open without
	// sending anything more (end=hang or status=0): a replay advances its clock there, as
	// the idle timeout passes.
	onHold func()
}

type answer struct {
	status     int
	retryAfter string
	hang       bool
	flushOnce  bool
	frames     []string
	live       chan string // frames sent while the watch is open; closing it ends the watch
}

func loadStream(t *testing.T, name string) *streamFile {
	t.Helper()
	data, err := os.ReadFile("testdata/streams/" + name + ".txt")
	if err != nil {
		t.Fatal(err)
	}
	f := &streamFile{}
	var cur *answer
	var kind string
	flush := func() {
		if cur == nil {
			return
		}
		if kind == "list" {
			f.lists = append(f.lists, *cur)
		} else {
			f.watches = append(f.watches, *cur)
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-- ") && strings.HasSuffix(line, " --") {
			flush()
			words := strings.Fields(strings.TrimSuffix(strings.TrimPrefix(line, "-- "), " --"))
			kind, cur = words[0], &answer{status: http.StatusOK}
			if kind != "list" && kind != "watch" {
				t.Fatalf("%s: unknown section %q", name, line)
			}
			for _, w := range words[1:] {
				k, v, _ := strings.Cut(w, "=")
				switch k {
				case "status":
					cur.status, _ = strconv.Atoi(v)
				case "retry-after":
					cur.retryAfter = v
				case "end":
					cur.hang = v == "hang"
				case "flush":
					cur.flushOnce = v == "once"
				default:
					t.Fatalf("%s: unknown header word %q", name, w)
				}
			}
			continue
		}
		if cur == nil {
			f.comment += line + "\n"
		} else if line != "" {
			cur.frames = append(cur.frames, line)
		}
	}
	flush()
	return f
}

// fakeAPIServer speaks the real REST paths of discovery.k8s.io/v1 EndpointSlices and
// answers from a stream file. When its watch answers run out it holds the next watch
// open and reports that the client has caught up.
type fakeAPIServer struct {
	t         *testing.T
	namespace string
	srv       *httptest.Server

	mu       sync.Mutex
	stream   *streamFile
	requests []url.Values // query of every request, in order; "watch" tells them apart
	caughtUp chan struct{}
	once     sync.Once
}

func newFakeAPIServer(t *testing.T, namespace string, stream *streamFile) *fakeAPIServer {
	f := &fakeAPIServer{t: t, namespace: namespace, stream: stream, caughtUp: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// clientset is a real clientset pointed at the fake server.
func (f *fakeAPIServer) clientset() kubernetes.Interface {
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: f.srv.URL, QPS: 1000, Burst: 1000})
	if err != nil {
		f.t.Fatal(err)
	}
	return cs
}

func (f *fakeAPIServer) serve(w http.ResponseWriter, r *http.Request) {
	wantPath := "/apis/discovery.k8s.io/v1/namespaces/" + f.namespace + "/endpointslices"
	if r.Method != http.MethodGet || r.URL.Path != wantPath {
		f.t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	watching := q.Get("watch") == "true"
	f.mu.Lock()
	f.requests = append(f.requests, q)
	queue := &f.stream.lists
	if watching {
		queue = &f.stream.watches
	}
	var a *answer
	if len(*queue) > 0 {
		a = &(*queue)[0]
		*queue = (*queue)[1:]
	}
	f.mu.Unlock()

	if a == nil {
		if !watching {
			f.t.Errorf("unexpected LIST %v", q)
		}
		f.once.Do(func() { close(f.caughtUp) })
		<-r.Context().Done() // hold it open, silent, until the client leaves
		return
	}
	if a.status == 0 { // never answer
		f.hold(r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
	w.WriteHeader(a.status)
	if a.flushOnce {
		w.Write([]byte(strings.Join(a.frames, "\n") + "\n"))
	} else {
		for _, frame := range a.frames {
			w.Write([]byte(frame + "\n"))
			w.(http.Flusher).Flush()
		}
	}
	w.(http.Flusher).Flush()
	if a.live != nil {
		for {
			select {
			case frame, ok := <-a.live:
				if !ok {
					return
				}
				w.Write([]byte(frame + "\n"))
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	}
	if a.hang {
		f.hold(r)
	}
}

// hold keeps a watch open, silent, until the client leaves, telling the stream's onHold.
func (f *fakeAPIServer) hold(r *http.Request) {
	if f.stream.onHold != nil {
		f.stream.onHold()
	}
	<-r.Context().Done()
}

// waitCaughtUp waits until the client has consumed every answer.
func (f *fakeAPIServer) waitCaughtUp() {
	f.t.Helper()
	select {
	case <-f.caughtUp:
	case <-time.After(10 * time.Second):
		f.t.Fatal("the client did not consume every answer of the stream within 10 s")
	}
}

// lists and watches return the queries of the LIST and WATCH requests received.
func (f *fakeAPIServer) lists() []url.Values   { return f.queries(false) }
func (f *fakeAPIServer) watches() []url.Values { return f.queries(true) }

func (f *fakeAPIServer) queries(watch bool) []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []url.Values
	for _, q := range f.requests {
		if (q.Get("watch") == "true") == watch {
			out = append(out, q)
		}
	}
	return out
}

// listFrame and eventFrame build what the API server sends for slices made in code.
func listFrame(t *testing.T, rv int, items ...*discoveryv1.EndpointSlice) string {
	list := discoveryv1.EndpointSliceList{ListMeta: metav1.ListMeta{ResourceVersion: strconv.Itoa(rv)}}
	for _, s := range items {
		list.Items = append(list.Items, *s)
	}
	return mustJSON(t, list)
}

func eventFrame(t *testing.T, typ string, rv int, s *discoveryv1.EndpointSlice) string {
	s = s.DeepCopy()
	s.Kind, s.APIVersion, s.ResourceVersion = "EndpointSlice", "discovery.k8s.io/v1", strconv.Itoa(rv)
	return mustJSON(t, map[string]any{"type": typ, "object": s})
}

func mustJSON(t *testing.T, v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func readySlice(name string, addrs ...string) *discoveryv1.EndpointSlice {
	var eps []discoveryv1.Endpoint
	for _, a := range addrs {
		eps = append(eps, apiEndpoint(a, yes, no))
	}
	return apiSlice(name, discoveryv1.AddressTypeIPv4, eps...)
}

func apiSlice(name string, family discoveryv1.AddressType, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: testService}},
		AddressType: family,
		Endpoints:   eps,
	}
}

func apiEndpoint(addr string, ready, terminating *bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{addr},
		Conditions: discoveryv1.EndpointConditions{Ready: ready, Terminating: terminating}}
}

// compacted is what the watcher keeps of the given API slices: each goes through the same
// JSON decoding as a watch event.
func compacted(t testing.TB, all map[string]*discoveryv1.EndpointSlice) map[string]*slice {
	out := make(map[string]*slice, len(all))
	for name, s := range all {
		data, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var w wireSlice
		if err := json.Unmarshal(data, &w); err != nil {
			t.Fatal(err)
		}
		out[name] = w.compact()
	}
	return out
}

var yes, no = new(bool), new(bool)

func init() { *yes = true }
