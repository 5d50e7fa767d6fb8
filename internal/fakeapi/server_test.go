package fakeapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

const ns = "shop"

// next is the next event of w, failing t if none comes within 10 s.
func next(t *testing.T, w watch.Interface) (watch.Event, bool) {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		return ev, ok
	case <-time.After(stuck):
		t.Fatalf("no watch event within %v", stuck)
		return watch.Event{}, false
	}
}

// TestServerAnswersInOrder: a real clientset LISTs, then WATCHes a live answer that sends
// what the test hands it and ends when the test closes it; the next WATCH, past the
// stream's answers, is held open and marks the client caught up. The server records
// every query, and WaitWatches sees each WATCH arrive.
func TestServerAnswersInOrder(t *testing.T) {
	leakcheck.Check(t)
	live := make(chan string)
	api := Start(t, ns, Listing(7, testSlice("cache-x1", "10.0.0.1", "10.0.0.2")).WithLive(live))
	client := api.Clientset().DiscoveryV1().EndpointSlices(ns)

	list, err := client.List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || len(list.Items[0].Endpoints) != 2 || list.ResourceVersion != "7" {
		t.Fatalf("LIST = %+v; want one slice of two endpoints at resourceVersion 7", list)
	}
	w, err := client.Watch(t.Context(), metav1.ListOptions{ResourceVersion: "7"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	api.WaitWatches(t, 1)
	live <- EventFrame(watch.Modified, 8, testSlice("cache-x1", "10.0.0.1"))
	if ev, _ := next(t, w); ev.Type != watch.Modified {
		t.Fatalf("watch event %s %+v; want MODIFIED", ev.Type, ev.Object)
	}
	select {
	case <-api.CaughtUp():
		t.Fatal("caught up while the live watch was open")
	default:
	}
	close(live)
	if ev, ok := next(t, w); ok {
		t.Fatalf("watch event %s after the live answer closed; want the watch ended", ev.Type)
	}

	// Past the stream's answers: held open without an answer, until the client leaves.
	ctx, cancel := context.WithCancel(t.Context())
	watched := make(chan error, 1)
	go func() {
		_, err := client.Watch(ctx, metav1.ListOptions{ResourceVersion: "8"})
		watched <- err
	}()
	api.WaitWatches(t, 2)
	api.WaitCaughtUp(t)
	select {
	case err := <-watched:
		t.Fatalf("the WATCH past the stream's answers was answered (%v); want it held open", err)
	default:
	}
	cancel()
	if err := <-watched; err == nil {
		t.Error("the WATCH past the stream's answers succeeded; want it held until the client left")
	}
	watchRVs := func() (rvs []string) {
		for _, q := range api.Watches() {
			rvs = append(rvs, q.Get("resourceVersion"))
		}
		return rvs
	}
	if got := watchRVs(); len(api.Lists()) != 1 || !slices.Equal(got, []string{"7", "8"}) {
		t.Errorf("%d LISTs and WATCHes from %v; want 1 LIST and WATCHes from [7 8]", len(api.Lists()), got)
	}
}

// TestServerErrorAnswer: an answer with an error status and a Status body reaches the
// clientset as that API error, with its Retry-After header.
func TestServerErrorAnswer(t *testing.T) {
	forbidden := `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,"message":"no"}`
	api := Start(t, ns, &Stream{Lists: []Answer{{Status: http.StatusForbidden, Frames: []string{forbidden}},
		{Status: http.StatusServiceUnavailable, RetryAfter: "7"}}})
	_, err := api.Clientset().DiscoveryV1().EndpointSlices(ns).List(t.Context(), metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("LIST error = %v; want Forbidden", err)
	}
	resp, err := http.Get(api.HTTP.URL + Path(ns))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "7" {
		t.Errorf("second LIST answered %d with Retry-After %q; want 503 with 7", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestServerHoldsAndCloses: a watch answer that hangs is held open after its frames and
// tells OnHold; Close ends it, and every other held request, without the client.
func TestServerHoldsAndCloses(t *testing.T) {
	leakcheck.Check(t)
	held := make(chan struct{}, 1)
	stream := &Stream{
		Watches: []Answer{{Status: http.StatusOK, Hang: true, Frames: []string{EventFrame(watch.Added, 2, testSlice("x", "10.0.0.1"))}}},
		OnHold:  func() { held <- struct{}{} },
	}
	api := New(ns, stream)
	defer api.Close()
	w, err := api.Clientset().DiscoveryV1().EndpointSlices(ns).Watch(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if ev, _ := next(t, w); ev.Type != watch.Added {
		t.Fatalf("watch event %s; want ADDED", ev.Type)
	}
	select {
	case <-held:
	case <-time.After(stuck):
		t.Fatal("OnHold was not called")
	}
	api.Close()
	if ev, ok := next(t, w); ok {
		t.Fatalf("watch event %s after Close; want the watch ended", ev.Type)
	}
}

// TestServerReportsUnexpected: a request on another path is answered 404 and reported
// (Start fails the test with it); a LIST past the stream's last is reported and held
// open until the client leaves.
func TestServerReportsUnexpected(t *testing.T) {
	leakcheck.Check(t)
	api := New(ns, &Stream{})
	defer api.Close()
	reported := make(chan string, 2)
	api.report = func(format string, args ...any) { reported <- fmt.Sprintf(format, args...) }
	nextReport := func(want string) {
		t.Helper()
		select {
		case got := <-reported:
			if !strings.Contains(got, want) {
				t.Errorf("reported %q; want it to name %q", got, want)
			}
		case <-time.After(stuck):
			t.Fatalf("nothing reported within %v; want %q", stuck, want)
		}
	}

	_, err := api.Clientset().DiscoveryV1().EndpointSlices("other").List(t.Context(), metav1.ListOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("LIST in another namespace: %v; want NotFound", err)
	}
	nextReport("unexpected request GET " + Path("other"))

	ctx, cancel := context.WithCancel(t.Context())
	listed := make(chan error, 1)
	go func() {
		_, err := api.Clientset().DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{})
		listed <- err
	}()
	nextReport("unexpected LIST")
	select {
	case err := <-listed:
		t.Fatalf("a LIST past the stream's last was answered (%v); want it held open", err)
	default:
	}
	cancel()
	if err := <-listed; err == nil {
		t.Error("a LIST past the stream's last succeeded; want it held until the client left")
	}
}
