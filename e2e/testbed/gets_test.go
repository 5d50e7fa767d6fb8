package testbed

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// gauge counts the Gets in flight at once, across pods.
type gauge struct {
	mu             sync.Mutex
	inFlight, most int
}

func (g *gauge) add(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight += n
	g.most = max(g.most, g.inFlight)
}

// loader answers /get as the example does, with the wrong value for the keys in wrong, and
// records the keys and timeouts it was asked.
type loader struct {
	name             string
	wrong            map[string]bool
	delay            map[string]time.Duration // how long the answer for a key takes
	gauge            *gauge
	mu               sync.Mutex
	timeouts, served []string
}

func (l *loader) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	l.mu.Lock()
	l.timeouts = append(l.timeouts, r.URL.Query().Get("timeout"))
	l.served = append(l.served, key)
	l.mu.Unlock()
	if l.gauge != nil {
		l.gauge.add(1)
		time.Sleep(2 * time.Millisecond) // long enough for Gets sent together to overlap
		l.gauge.add(-1)
	}
	time.Sleep(l.delay[key])
	value := WantValue(key)
	if l.wrong[key] {
		value = "stale"
	}
	writeJSON(w, GetResult{Key: key, Value: value, ServedBy: l.name, LoadedBy: l.name})
}

// asked returns the keys and the timeouts the loader was asked, in the order they came.
func (l *loader) asked() (keys, timeouts []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.served), slices.Clone(l.timeouts)
}

// TestGetAll: key i goes through pod i mod n, no more than inFlight Gets are in flight at a
// time, the answers come back in the order of keys, and the first wrong value in that order
// is the error.
func TestGetAll(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pods     int
		keys     int
		inFlight int
		wrong    []string
		wantErr  string
	}{
		{"one pod, one at a time", 1, 6, 1, nil, ""},
		{"three pods round-robin, eight at a time", 3, 40, 8, nil, ""},
		{"no keys", 2, 0, 8, nil, ""},
		{"zero in flight is one", 2, 4, 0, nil, ""},
		{"a wrong value", 2, 10, 4, []string{"k-7"}, `Get("k-7") through p1 = "stale"`},
		{"the first wrong value in key order", 2, 10, 10, []string{"k-8", "k-3"}, `Get("k-3") through p1 = "stale"`},
		{"no pods", 0, 3, 8, nil, "no pods"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pods []*Pod
			var loaders []*loader
			g := &gauge{}
			for i := range tc.pods {
				l := &loader{name: "p" + strconv.Itoa(i), wrong: map[string]bool{}, gauge: g}
				for _, k := range tc.wrong {
					l.wrong[k] = true
				}
				loaders = append(loaders, l)
				pods = append(pods, fakeExample(t, l.name, l))
			}
			keys := Keys("k-", tc.keys)
			results, durations, err := GetAll(t.Context(), pods, keys, tc.inFlight)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("GetAll error = %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(results) != len(keys) || len(durations) != len(keys) {
				t.Fatalf("GetAll returned %d answers and %d durations for %d keys", len(results), len(durations), len(keys))
			}
			for i, r := range results {
				if want := pods[i%len(pods)].Name; r.Key != keys[i] || r.ServedBy != want || durations[i] <= 0 {
					t.Errorf("answer %d = %+v after %s; want key %s served by %s", i, r, durations[i], keys[i], want)
				}
			}
			g.mu.Lock()
			most := g.most
			g.mu.Unlock()
			if limit := max(1, tc.inFlight); most > limit {
				t.Errorf("%d Gets were in flight at once; want at most %d", most, limit)
			}
			if tc.inFlight <= 1 && tc.pods == 1 {
				if served, _ := loaders[0].asked(); strings.Join(served, ",") != strings.Join(keys, ",") {
					t.Errorf("one at a time, the keys arrived as %v; want them in order", served)
				}
			}
		})
	}
}

// TestGetAtOnce: every key through every pod, key by key, with the deadline sent along, and
// an error is kept, not checked.
func TestGetAtOnce(t *testing.T) {
	a := &loader{name: "a"}
	b := &loader{name: "b", wrong: map[string]bool{"y": true}}
	pods := []*Pod{fakeExample(t, "a", a), fakeExample(t, "b", b)}
	gets := GetAtOnce(t.Context(), pods, []string{"x", "y"}, 15*time.Second)
	want := []struct{ key, pod string }{{"x", "a"}, {"x", "b"}, {"y", "a"}, {"y", "b"}}
	if len(gets) != len(want) {
		t.Fatalf("GetAtOnce returned %d Gets, want %d", len(gets), len(want))
	}
	for i, g := range gets {
		if g.Key != want[i].key || g.Pod != pods[i%2] || g.Result.ServedBy != want[i].pod || g.Err != nil || g.Took <= 0 {
			t.Errorf("Get %d = %+v; want %s through %s", i, g, want[i].key, want[i].pod)
		}
	}
	if gets[3].Result.Value != "stale" {
		t.Errorf("the wrong value was changed or dropped: %+v", gets[3].Result)
	}
	for _, l := range []*loader{a, b} {
		if _, timeouts := l.asked(); strings.Join(timeouts, ",") != "15s,15s" {
			t.Errorf("pod %s got timeouts %v; want 15s on each Get", l.name, timeouts)
		}
	}
	// Without a deadline no timeout parameter is sent.
	c := &loader{name: "c"}
	GetAtOnce(t.Context(), []*Pod{fakeExample(t, "c", c)}, []string{"z"}, 0)
	if _, timeouts := c.asked(); len(timeouts) != 1 || timeouts[0] != "" {
		t.Errorf("with no deadline pod c got timeouts %q; want none", timeouts)
	}
}
