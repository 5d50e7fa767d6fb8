package k8s

// Tests of NewGroup: the group peeks through its manager, and bad arguments are logged
// rather than panicking.

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/golang/groupcache"
)

func TestNewGroupBadArguments(t *testing.T) {
	var log syncBuffer
	m := &PeersManager{cfg: newConfig([]Option{WithLogger(slog.New(slog.NewTextHandler(&log, nil)))})}
	m.snap.Store(&snapshot{ring: emptyRing, self: -1})
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
