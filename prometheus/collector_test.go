package prometheus

// The collector's contract: lint-clean names, groups that appear once they exist, and
// series that neither disappear nor go down when the ring changes.

import (
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang/groupcache"
	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/watch"
)

// TestCollectAndLint: promlint finds nothing to say about any metric, with a group
// present so that the group and cache metrics are linted too, and every metric is sent.
func TestCollectAndLint(t *testing.T) {
	leakcheck.Check(t)
	m := startPods(t, "127.0.0.1")[0].m
	g := m.NewGroup(groupName(t), 1<<20, echoGetter)
	var v string
	if err := g.Get(t.Context(), "k", groupcache.StringSink(&v)); err != nil {
		t.Fatal(err)
	}
	c := NewCollector(m)

	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if got, want := testutil.CollectAndCount(c), len(wantManager(m.Stats()))+len(wantGroup(g)); got != want {
		t.Errorf("collected %d series, want %d", got, want)
	}
}

// TestGroupsAppearAtTheNextCollection: a group created after the collector was
// registered is collected from then on, whether made with m.NewGroup or named.
func TestGroupsAppearAtTheNextCollection(t *testing.T) {
	leakcheck.Check(t)
	m := startPods(t, "127.0.0.1")[0].m
	for _, tc := range []struct {
		name   string
		named  bool // given to NewCollector
		create func(name string)
	}{
		{"made with m.NewGroup", false, func(name string) { m.NewGroup(name, 1<<20, echoGetter) }},
		{"named, made with groupcache.NewGroup", true, func(name string) { groupcache.NewGroup(name, 1<<20, echoGetter) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := groupName(t)
			var named []string
			if tc.named {
				named = append(named, name)
			}
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(NewCollector(m, named...))
			if n := seriesOfGroup(t, reg, name); n != 0 {
				t.Fatalf("%d series of group %q before it exists; want none", n, name)
			}
			tc.create(name)
			want := len(wantGroup(groupcache.GetGroup(name)))
			if n := seriesOfGroup(t, reg, name); n != want {
				t.Errorf("%d series of group %q once it exists; want %d", n, name, want)
			}
		})
	}
}

// seriesOfGroup gathers reg and counts the series labelled group=name.
func seriesOfGroup(t *testing.T, reg prometheus.Gatherer, name string) int {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "group" && l.GetValue() == name {
					n++
				}
			}
		}
	}
	return n
}

// TestRingChangesKeepEverySeries: pod A's ring changes through its watch (a third pod
// joins, B leaves, B comes back as the third leaves) with calls to B in between;
// after each change every series collected before is still there, and no counter
// went down.
func TestRingChangesKeepEverySeries(t *testing.T) {
	leakcheck.Check(t)
	pods := startPods(t, "127.0.0.1", "127.0.0.2")
	a, b := pods[0], pods[1]
	third := strings.Replace(b.id, "127.0.0.2", "127.0.0.3", 1) // nothing listens there
	g := a.m.NewGroup(groupName(t), 1<<20, echoGetter)
	c := NewCollector(a.m)

	callB := func(t *testing.T) {
		for _, key := range keysOwnedBy(t, a, b.id, 3) {
			if _, err := get(t, a, g.Name(), key); err != nil {
				t.Fatalf("Get(%q) from %s: %v", key, b.id, err)
			}
		}
	}
	callB(t)
	last := gather(t, c)
	for i, step := range []struct {
		name  string
		addrs []string // the slice's ready endpoints after the change
		ring  []string
	}{
		{"a third pod joins", []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}, []string{a.id, b.id, third}},
		{"B leaves", []string{"127.0.0.1", "127.0.0.3"}, []string{a.id, third}},
		{"B comes back, the third leaves", []string{"127.0.0.1", "127.0.0.2"}, []string{a.id, b.id}},
	} {
		t.Run(step.name, func(t *testing.T) {
			a.api.send(watch.Modified, 2+i, readySlice(step.addrs...))
			select {
			case ring := <-a.rings:
				if !slices.Equal(ring, step.ring) {
					t.Fatalf("A's ring = %v, want %v", ring, step.ring)
				}
			case <-time.After(stuck):
				t.Fatalf("A's ring did not change within %v; want %v", stuck, step.ring)
			}
			if slices.Contains(step.ring, b.id) {
				callB(t)
			}
			now := gather(t, c)
			if diffs := notKept(last, now); len(diffs) > 0 {
				t.Errorf("after the change:\n%s", strings.Join(diffs, "\n"))
			}
			if got := now["groupcache_k8s_peers"].value; got != float64(len(step.ring)) {
				t.Errorf("groupcache_k8s_peers = %g, want %d", got, len(step.ring))
			}
			last = now
		})
	}
}

// notKept lists the series of before that are missing in after, and the counters that
// went down.
func notKept(before, after map[string]sample) []string {
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(before)) {
		b := before[k]
		switch a, ok := after[k]; {
		case !ok:
			diffs = append(diffs, k+": disappeared")
		case b.typ == counter && a.value < b.value:
			diffs = append(diffs, fmt.Sprintf("%s: counter went down from %g to %g", k, b.value, a.value))
		}
	}
	return diffs
}

// TestDocListsEveryMetric: the package documentation lists every metric the collector
// describes.
func TestDocListsEveryMetric(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	descs := make(chan *prometheus.Desc, 100)
	(&collector{}).Describe(descs)
	close(descs)
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	n := 0
	for d := range descs {
		name := fqName.FindStringSubmatch(d.String())
		if name == nil {
			t.Fatalf("no name in %s", d)
		}
		if n++; !regexp.MustCompile(`(?m)^//\t` + name[1] + `[{ ]`).Match(doc) {
			t.Errorf("doc.go does not list %s", name[1])
		}
	}
	if n != len(managerMetrics)+1+len(groupMetrics)+len(cacheMetrics) {
		t.Errorf("Describe sent %d descriptors, want one per metric", n)
	}
}

// TestNewCollectorNeedsAManager: a nil manager fails at once, not at the first scrape.
func TestNewCollectorNeedsAManager(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewCollector(nil) did not panic")
		}
	}()
	NewCollector(nil)
}
