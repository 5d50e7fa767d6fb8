package fakeapi

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// streamFile is a stream file of every kind of section: a LIST, a watch that expired, a
// watch sent in one write that then hangs.
const streamFile = `A comment
of two lines.
-- list --
{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{"resourceVersion":"100"},"items":[]}
-- watch status=410 retry-after=3 --
{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","code":410,"message":"too old"}
-- watch flush=once end=hang --
{"type":"ADDED","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"a","resourceVersion":"101"},"addressType":"IPv4","endpoints":[]}}

{"type":"DELETED","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"a","resourceVersion":"102"},"addressType":"IPv4","endpoints":[]}}
`

// TestParse: every header word and the comment are read; blank lines are no frames.
func TestParse(t *testing.T) {
	s, err := Parse([]byte(streamFile))
	if err != nil {
		t.Fatal(err)
	}
	if s.Comment != "A comment\nof two lines.\n" || len(s.Lists) != 1 || len(s.Watches) != 2 {
		t.Fatalf("parsed comment %q, %d lists, %d watches; want the two comment lines, 1 list, 2 watches",
			s.Comment, len(s.Lists), len(s.Watches))
	}
	if l := s.Lists[0]; l.Status != http.StatusOK || len(l.Frames) != 1 {
		t.Errorf("list answer %+v; want 200 with one frame", l)
	}
	if w := s.Watches[0]; w.Status != http.StatusGone || w.RetryAfter != "3" || w.Hang || w.FlushOnce || len(w.Frames) != 1 {
		t.Errorf("first watch answer %+v; want 410, Retry-After 3, one frame", w)
	}
	if w := s.Watches[1]; w.Status != http.StatusOK || !w.Hang || !w.FlushOnce || len(w.Frames) != 2 {
		t.Errorf("second watch answer %+v; want 200, flushed once, hanging, two frames", w)
	}
	for _, bad := range []string{"-- get --\n", "-- watch status=x --\n", "-- list colour=red --\n"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded; want an error", bad)
		}
	}
}

// TestStreamReplay: a stream file loaded from testdata/streams reaches a real clientset
// as it is written: the LIST, the expired watch as an Expired error, then both events of
// the last watch, which stays open.
func TestStreamReplay(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "testdata", "streams"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "testdata", "streams", "every_kind.txt"), []byte(streamFile), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	api := Start(t, ns, Load(t, "every_kind"))
	client := api.Clientset().DiscoveryV1().EndpointSlices(ns)

	if list, err := client.List(t.Context(), metav1.ListOptions{}); err != nil || list.ResourceVersion != "100" {
		t.Fatalf("LIST = %+v, %v; want resourceVersion 100", list, err)
	}
	if _, err := client.Watch(t.Context(), metav1.ListOptions{ResourceVersion: "50"}); !apierrors.IsResourceExpired(err) {
		t.Fatalf("first WATCH: %v; want Expired", err)
	}
	w, err := client.Watch(t.Context(), metav1.ListOptions{ResourceVersion: "100"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for _, want := range []watch.EventType{watch.Added, watch.Deleted} {
		ev, _ := next(t, w)
		if s, ok := ev.Object.(*discoveryv1.EndpointSlice); ev.Type != want || !ok || s.Name != "a" {
			t.Errorf("watch event %s %+v; want %s of slice a", ev.Type, ev.Object, want)
		}
	}
	select {
	case ev := <-w.ResultChan():
		t.Errorf("watch sent %s %+v after its frames; want it held open, silent", ev.Type, ev.Object)
	default:
	}
}
