package k8s

// Tests of NewGroup: the group peeks through its manager, and bad arguments are logged
// rather than panicking.

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/golang/groupcache"
	"github.com/groupcache-k8s/k8s/internal/fakeapi"
	"github.com/groupcache-k8s/k8s/internal/leakcheck"
)

func TestNewGroupBadArguments(t *testing.T) {
	leakcheck.Check(t)
	var log syncBuffer
	cfg := newConfig([]Option{WithLogger(slog.New(slog.NewTextHandler(&log, nil)))})
	r := newRouter("10.0.0.1:8080", cfg, &counters{}, &loopGuard{}, newTestChannel(t, cfg))
	t.Cleanup(func() { r.stop(); r.closeClients() }) // ends its liveness goroutine
	m := &PeersManager{cfg: cfg, router: r}
	getter := groupcache.GetterFunc(func(_ context.Context, key string, dest groupcache.Sink) error {
		return dest.SetString("v:" + key)
	})
	first := m.NewGroup(t.Name(), 1<<20, getter)
	cases := []struct {
		name    string
		group   string
		getter  groupcache.Getter
		wantLog string
		check   func(*groupcache.Group) string // "" when the group is right
	}{
		{"a name that exists returns that group", t.Name(), getter, "exists already",
			func(g *groupcache.Group) string {
				if g != first {
					return "a different group"
				}
				return ""
			}},
		{"a nil getter gives a group whose loads fail", t.Name() + "-nil", nil, "nil getter",
			func(g *groupcache.Group) string {
				var v string
				if err := g.Get(t.Context(), "k", groupcache.StringSink(&v)); err == nil || !strings.Contains(err.Error(), "nil getter") {
					return "Get: " + v
				}
				return ""
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := m.NewGroup(tc.group, 1<<20, tc.getter)
			if g == nil {
				t.Fatal("NewGroup returned nil")
			}
			if problem := tc.check(g); problem != "" {
				t.Error(problem)
			}
			if !strings.Contains(log.String(), tc.wantLog) {
				t.Errorf("log %q does not say %q", log.String(), tc.wantLog)
			}
		})
	}
	if got, want := m.Groups(), []string{t.Name(), t.Name() + "-nil"}; !slices.Equal(got, want) {
		t.Errorf("Groups() = %v, want %v", got, want)
	}
	var v string
	if err := first.Get(t.Context(), "k", groupcache.StringSink(&v)); err != nil || v != "v:k" {
		t.Errorf("Get through a NewGroup group = %q, %v; want the getter's value", v, err)
	}
}

// TestNewGroupAfterItsManagerClosed: a group outlives its manager in groupcache's
// registry, so NewGroup of the same name in the next manager hands the group to that
// manager and its getter. It used to return the group still bound to the closed
// manager, whose hand-off and getter it went on using.
func TestNewGroupAfterItsManagerClosed(t *testing.T) {
	name := fmt.Sprintf("%s#%d", t.Name(), groupSeq.Add(1))
	getter := func(tag string) groupcache.GetterFunc {
		return func(_ context.Context, key string, dest groupcache.Sink) error { return dest.SetString(tag + key) }
	}
	stream := func() *fakeapi.Stream {
		return fakeapi.Listing(10, readySlice("x", "10.0.0.1"))
	}
	first, _ := startManager(t, stream(), "10.0.0.1:8080")
	g := first.NewGroup(name, 0, getter("first:"))
	first.Close()
	second, _ := startManager(t, stream(), "10.0.0.1:8080")
	if again := second.NewGroup(name, 0, getter("second:")); again != g {
		t.Fatal("NewGroup returned another group than the one groupcache holds")
	}
	var v string
	if err := g.Get(t.Context(), "k", groupcache.StringSink(&v)); err != nil || v != "second:k" {
		t.Errorf("Get = %q, %v; want the second manager's getter's value", v, err)
	}
	if b := handoffGroups[name].bound.Load(); b.m != second {
		t.Error("the group's hand-off goes through the closed manager")
	}
	third, _ := startManager(t, stream(), "10.0.0.1:8080") // while second is open, the group stays with it
	third.NewGroup(name, 0, getter("third:"))
	if b := handoffGroups[name].bound.Load(); b.m != second {
		t.Error("NewGroup took the group of a manager that is still open")
	}
}
