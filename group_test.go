package k8s

// Tests of NewGroup: the group peeks through its manager, a name taken or a nil getter
// panics as in groupcache, and a closed manager's group is handed to the next manager.

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/groupcache"
	"github.com/groupcache-k8s/k8s/internal/fakeapi"
	"google.golang.org/grpc"
)

// panicOf returns what f panicked with, or nil if it returned.
func panicOf(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}

// prefixGetter is a getter whose value of key is prefix+key.
func prefixGetter(prefix string) groupcache.GetterFunc {
	return func(_ context.Context, key string, dest groupcache.Sink) error { return dest.SetString(prefix + key) }
}

// TestNewGroupBadArguments: NewGroup panics as groupcache.NewGroup does for a name that
// is taken and for a nil getter, except for the name of a group whose manager was
// closed, which it hands over.
func TestNewGroupBadArguments(t *testing.T) {
	stream := func() *fakeapi.Stream { return fakeapi.Listing(10, readySlice("x", "10.0.0.1")) }
	m, _ := startManager(t, stream(), "10.0.0.1:8080")
	other, _ := startManager(t, stream(), "10.0.0.1:8080")
	closed, _ := startManager(t, stream(), "10.0.0.1:8080")
	name := func(what string) string { return fmt.Sprintf("%s-%s#%d", t.Name(), what, groupSeq.Add(1)) }

	byGroupcache, byM, byOther, byClosed := name("groupcache"), name("m"), name("other"), name("closed")
	groupcache.NewGroup(byGroupcache, 0, prefixGetter("groupcache:"))
	m.NewGroup(byM, 0, prefixGetter("m-first:"))
	other.NewGroup(byOther, 0, prefixGetter("other:"))
	closed.NewGroup(byClosed, 0, prefixGetter("closed:"))
	closed.Close()

	fresh := name("new")
	cases := []struct {
		name      string
		group     string
		getter    groupcache.Getter
		wantPanic string // what NewGroup panics with; "" when it returns
		wantValue string // of key "k" through the group returned
	}{
		{"a new name", fresh, prefixGetter("m:"), "", "m:k"},
		{"a name made by groupcache.NewGroup", byGroupcache, prefixGetter("m:"), "duplicate registration of group " + byGroupcache, ""},
		{"a name this manager made", byM, prefixGetter("m:"), "duplicate registration of group " + byM, ""},
		{"a name made by a manager still open", byOther, prefixGetter("m:"), "duplicate registration of group " + byOther, ""},
		{"a nil getter", name("nil"), nil, "nil Getter", ""},
		{"a name made by a closed manager is handed over", byClosed, prefixGetter("m:"), "", "m:k"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var g *groupcache.Group
			p := panicOf(func() { g = m.NewGroup(tc.group, 1<<20, tc.getter) })
			if tc.wantPanic != "" {
				if p != tc.wantPanic {
					t.Fatalf("NewGroup panicked with %v; want %q", p, tc.wantPanic)
				}
				return
			}
			if p != nil {
				t.Fatalf("NewGroup panicked with %v; want a group", p)
			}
			if g == nil || g != groupcache.GetGroup(tc.group) {
				t.Fatalf("NewGroup returned %p; want groupcache's group %p", g, groupcache.GetGroup(tc.group))
			}
			var v string
			if err := g.Get(t.Context(), "k", groupcache.StringSink(&v)); err != nil || v != tc.wantValue {
				t.Errorf("Get = %q, %v; want %q", v, err, tc.wantValue)
			}
		})
	}
	want := []string{byClosed, byM, fresh} // not the names NewGroup panicked on
	slices.Sort(want)
	if got := m.Groups(); !slices.Equal(got, want) {
		t.Errorf("Groups() = %v, want %v", got, want)
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
	if p := panicOf(func() { third.NewGroup(name, 0, getter("third:")) }); p == nil {
		t.Error("NewGroup of a name whose manager is open did not panic")
	}
	if b := handoffGroups[name].bound.Load(); b.m != second {
		t.Error("NewGroup took the group of a manager that is still open")
	}
}

// recordHook is a slog handler that calls f with each record.
type recordHook struct{ f func(slog.Record) }

func (h recordHook) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHook) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h recordHook) WithGroup(string) slog.Handler            { return h }
func (h recordHook) Handle(_ context.Context, r slog.Record) error {
	h.f(r)
	return nil
}

// TestNewGroupLogsOutsideItsLock: the line NewGroup logs when it takes over a closed
// manager's group is written after NewGroup has let go of its lock, so a logger that
// calls back into the library (one that makes a group of its own on first use) works.
// It was written under the lock every NewGroup and the pusher's listing take, and such a
// logger deadlocked the process's NewGroup for good.
func TestNewGroupLogsOutsideItsLock(t *testing.T) {
	stream := func() *fakeapi.Stream { return fakeapi.Listing(10, readySlice("x", "10.0.0.1")) }
	name := func(what string) string { return fmt.Sprintf("%s-%s#%d", t.Name(), what, groupSeq.Add(1)) }
	handedOver, fromLogger := name("handed-over"), name("from-logger")
	closed, _ := startManager(t, stream(), "10.0.0.1:8080")
	closed.NewGroup(handedOver, 0, prefixGetter("closed:"))
	closed.Close()
	var m atomic.Pointer[PeersManager]
	logger := slog.New(recordHook{func(r slog.Record) {
		if strings.Contains(r.Message, "the group now loads through this one") {
			m.Load().NewGroup(fromLogger, 0, prefixGetter("logger:"))
		}
	}})
	mm, _ := startManager(t, stream(), "10.0.0.1:8080", WithLogger(logger))
	m.Store(mm)
	done := make(chan struct{})
	go func() {
		defer close(done)
		mm.NewGroup(handedOver, 0, prefixGetter("m:"))
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("NewGroup did not return within 5 s: its logger's call back into NewGroup waits for NewGroup's lock")
	}
	if groupcache.GetGroup(fromLogger) == nil {
		t.Error("the logger's NewGroup made no group")
	}
}

// handoffGetterImpls are the cases of BenchmarkHandoffGetter and its parallel variant,
// the reference first: `benchstat -col /impl` compares handoff with bare.
//   - impl=bare: the user's getter, called directly: what groupcache.NewGroup's load calls.
//   - impl=handoff: the getter NewGroup installs for it (handoffGetter.Get), which calls it.
var handoffGetterImpls = []string{"bare", "handoff"}

// BenchmarkHandoffGetter: what the getter NewGroup installs adds to a load outside
// membership changes, one load at a time. The manager runs with its defaults, alone and
// ready in its Service from the first LIST, so no hand-off window is open and no owner's
// error waits; the user's getter answers a 100-byte value at once. The keys cycle through
// twice as many as the key log holds, so every logged key forgets the oldest, and every
// load's context carries a few values, as a request's does. A case fails unless the
// getter answered the last load and, through the hand-off, the log holds its key.
func BenchmarkHandoffGetter(b *testing.B) { benchmarkHandoffGetter(b, false) }

// BenchmarkHandoffGetterParallel is BenchmarkHandoffGetter with loads from GOMAXPROCS
// goroutines at once, into the one key log of the group.
func BenchmarkHandoffGetterParallel(b *testing.B) { benchmarkHandoffGetter(b, true) }

func benchmarkHandoffGetter(b *testing.B, parallel bool) {
	stream := fakeapi.Listing(10, readySlice("x", "10.0.0.1"))
	m, api, err := newManager(b.Context(), b, stream, "10.0.0.1:8080",
		WithGRPCServer(grpc.NewServer()), WithoutPeerPickerRegistration())
	if err != nil {
		b.Fatalf("NewPeersManager: %v", err)
	}
	api.WaitCaughtUp(b)
	if s := m.router.snap.Load(); s.self < 0 || s.handoff != nil {
		b.Fatalf("the pod is member %d of its ring, hand-off window open: %v; want a member outside the window",
			s.self, s.handoff != nil)
	}
	value := strings.Repeat("v", 100)
	bare := groupcache.GetterFunc(func(_ context.Context, _ string, dest groupcache.Sink) error {
		return dest.SetString(value)
	})
	name := fmt.Sprintf("%s#%d", b.Name(), groupSeq.Add(1))
	m.NewGroup(name, 0, bare)
	h, _ := newGroupNames.Load(name)
	handoff := h.(*handoffGetter)
	keys := make([]string, 2*maxLoggedKeys)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	ctx := b.Context()
	for i := range 5 {
		ctx = context.WithValue(ctx, benchContextKey(i), i)
	}
	getters := map[string]groupcache.Getter{"bare": bare, "handoff": handoff}
	for _, impl := range handoffGetterImpls {
		b.Run("impl="+impl, func(b *testing.B) {
			getter := getters[impl]
			// check fails b unless the getter answered the last load into buf and, through
			// the hand-off, the log holds the last keys loaded.
			check := func(buf []byte, last ...string) {
				if string(buf) != value {
					b.Errorf("the last load answered %q, want the getter's value", buf)
				}
				if impl != "handoff" {
					return
				}
				logged := handoff.keys.keys()
				for _, key := range last {
					if !slices.Contains(logged, key) {
						b.Errorf("the log lost %q, the last key loaded", key)
					}
				}
			}
			// Each goroutine loads into a buffer of its own, so that a load allocates nothing
			// of the benchmark's.
			buf := make([]byte, len(value))
			sink := groupcache.TruncatingByteSliceSink(&buf)
			for _, key := range keys[:maxLoggedKeys] { // fills the log
				if err := getter.Get(ctx, key, sink); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			if !parallel {
				i := maxLoggedKeys
				for ; b.Loop(); i++ {
					if err := getter.Get(ctx, keys[i%len(keys)], sink); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				check(buf, keys[(i-1)%len(keys)])
				return
			}
			var (
				next atomic.Int64
				mu   sync.Mutex
				last []string // each goroutine's last key loaded
			)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, len(value))
				sink := groupcache.TruncatingByteSliceSink(&buf)
				first := int(next.Add(1)) * 7919
				i := first
				for ; pb.Next(); i++ {
					if err := getter.Get(ctx, keys[i%len(keys)], sink); err != nil {
						b.Error(err)
						return
					}
				}
				if i > first { // this goroutine loaded
					mu.Lock()
					defer mu.Unlock()
					last = append(last, keys[(i-1)%len(keys)])
					if string(buf) != value {
						b.Errorf("the last load answered %q, want the getter's value", buf)
					}
				}
			})
			b.StopTimer()
			check(buf, last...)
		})
	}
}

// benchContextKey are the keys of the values in BenchmarkHandoffGetter's context.
type benchContextKey int
