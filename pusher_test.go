package k8s

// Tests of the pusher: a change of the ring sends the entries whose keys moved to their
// new owners, and Shutdown hands over every entry while this pod is still in its ring;
// a peer that does not know pushes is asked once.

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"github.com/groupcache-k8s/k8s/internal/leakcheck"
	"github.com/groupcache-k8s/k8s/k8stest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// pushRecorder is a peer's server that records the entries pushed to it.
type pushRecorder struct {
	delay    time.Duration // how long each push takes: a slow peer
	refuse   atomic.Int64  // the next pushes to answer Unavailable: a peer out of reach for a moment
	arrivals atomic.Int64  // pushes that reached the peer, stored or not yet
	mu       sync.Mutex
	pushes   map[string]string // "group/key" → value
	stuck    string            // a key whose push waits until the sender gives up; mu guards it
}

func (r *pushRecorder) Get(context.Context, *groupcachepb.GetRequest) (*groupcachepb.GetResponse, error) {
	return &groupcachepb.GetResponse{Value: []byte("from the peer")}, nil
}

func (r *pushRecorder) Peek(context.Context, *groupcachepb.GetRequest) (*groupcachepb.GetResponse, error) {
	return nil, errNotCached
}

func (r *pushRecorder) Ping(context.Context, *groupcachepb.GetRequest) (*groupcachepb.GetResponse, error) {
	return &groupcachepb.GetResponse{}, nil
}

func (r *pushRecorder) Push(ctx context.Context, in *groupcachepb.GetResponse) (*groupcachepb.GetResponse, error) {
	r.arrivals.Add(1)
	if r.refuse.Add(-1) >= 0 {
		return nil, status.Error(codes.Unavailable, "out of reach for a moment")
	}
	md, _ := metadata.FromIncomingContext(ctx)
	r.mu.Lock()
	stuck := r.stuck != "" && md.Get(pushKeyMD)[0] == r.stuck
	r.mu.Unlock()
	if stuck { // a load of the key runs here, longer than the sender waits
		<-ctx.Done()
		return nil, ctx.Err()
	}
	select { // the slow peer under test, not a synchronisation
	case <-time.After(r.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pushes[md.Get(pushGroupMD)[0]+"/"+md.Get(pushKeyMD)[0]] = string(in.GetValue())
	return &groupcachepb.GetResponse{}, nil
}

func (r *pushRecorder) recorded() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.pushes)
}

// pushScene is a manager on 127.0.0.1 (self) with a group made by NewGroup, and a
// recording peer's server on 127.0.0.2 (other), both on one port, the pods of a fake API
// server's Service.
type pushScene struct {
	api         *k8stest.Server
	m           *PeersManager
	self, other string
	port        int
	group       *groupcache.Group
	peer        *pushRecorder
	changes     chan []string
}

func startPushScene(t *testing.T, withPush bool, pods []string, opts ...Option) *pushScene {
	return startSlowPushScene(t, withPush, 0, pods, opts...)
}

// startSlowPushScene is startPushScene with a peer whose pushes take delay each.
func startSlowPushScene(t *testing.T, withPush bool, delay time.Duration, pods []string, opts ...Option) *pushScene {
	t.Helper()
	leakcheck.Check(t)
	port := freePort(t)
	s := &pushScene{api: k8stest.NewServer(), port: port, peer: &pushRecorder{delay: delay, pushes: map[string]string{}},
		self: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), other: net.JoinHostPort("127.0.0.2", strconv.Itoa(port)),
		changes: make(chan []string, 100)}
	t.Cleanup(s.api.Close)
	desc := groupCacheServiceDesc
	if !withPush { // a peer of a version without pushes
		desc.Methods = nil
		for _, m := range groupCacheServiceDesc.Methods {
			if m.MethodName != "Push" {
				desc.Methods = append(desc.Methods, m)
			}
		}
	}
	srv := grpc.NewServer()
	srv.RegisterService(&desc, s.peer)
	lis, err := net.Listen("tcp", s.other)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	s.setPods(pods...)
	opts = append([]Option{WithoutPeerPickerRegistration(), WithPeersChanged(func(p []string) { s.changes <- p })}, opts...)
	s.m, err = NewPeersManager(context.Background(), s.api.Clientset(), "cache", "ns", port, s.self, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.m.Close() })
	<-s.changes // the first LIST's
	if err := registerPicker(s.m); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unregisterPicker(s.m) })
	s.group = s.m.NewGroup(fmt.Sprintf("%s#%d", t.Name(), groupSeq.Add(1)), 1<<20,
		groupcache.GetterFunc(func(_ context.Context, key string, dest groupcache.Sink) error {
			return dest.SetString("v:" + key)
		}))
	return s
}

// setPods makes the Service's pods those of ips (127.0.0.x; "-127.0.0.x" for one that
// is terminating).
func (s *pushScene) setPods(ips ...string) {
	pods := make([]k8stest.Pod, len(ips))
	for i, ip := range ips {
		ip, terminating := strings.CutPrefix(ip, "-")
		pods[i] = k8stest.Pod{IP: ip, Terminating: terminating}
	}
	s.api.SetPods("ns", "cache", s.port, pods...)
}

// load has the manager load keys k0…k(n-1) that it owns now, and returns them.
func (s *pushScene) load(t *testing.T, n int) []string {
	t.Helper()
	var keys []string
	for i := 0; len(keys) < n; i++ {
		key := "k" + strconv.Itoa(i)
		if s.m.Owner(key) != s.self {
			continue
		}
		var v string
		if err := s.group.Get(t.Context(), key, groupcache.StringSink(&v)); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	return keys
}

// waitChange waits for the manager to publish a ring, and for the pushes it started.
func (s *pushScene) waitChange(t *testing.T) {
	t.Helper()
	select {
	case <-s.changes:
	case <-time.After(10 * time.Second):
		t.Fatal("the ring did not change within 10 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.m.pusher.waitIdle(ctx)
}

// TestRingChangePushesMovedEntries: when a pod joins, the manager pushes the entries it
// loaded whose keys the new pod owns now, with their values, and nothing else.
func TestRingChangePushesMovedEntries(t *testing.T) {
	s := startPushScene(t, true, []string{"127.0.0.1"})
	keys := s.load(t, 200)
	s.setPods("127.0.0.1", "127.0.0.2")
	s.waitChange(t)
	want := map[string]string{}
	for _, key := range keys {
		if s.m.Owner(key) == s.other {
			want[s.group.Name()+"/"+key] = "v:" + key
		}
	}
	if len(want) == 0 {
		t.Fatal("no key moved to the new pod")
	}
	if got := s.peer.recorded(); !maps.Equal(got, want) {
		t.Errorf("pushed %d entries, want the %d that moved (%d keys loaded)", len(got), len(want), len(keys))
	}
	st := s.m.Stats()
	assertCount(t, "Stats.PushesSent", st.PushesSent, int64(len(want)))
	assertCount(t, "Stats.PushFailures", st.PushFailures, 0)
}

// TestLeavingPodPushesBeforeItsDrainEnds: when this pod's endpoint turns terminating,
// the change of the ring pushes every entry it holds to its new owner, and Shutdown's
// drain does not end before those pushes have: with a slow peer (the pushes outlast the
// drain's quiet second) every entry arrives before Shutdown returns.
func TestLeavingPodPushesBeforeItsDrainEnds(t *testing.T) {
	s := startSlowPushScene(t, true, 100*time.Millisecond, []string{"127.0.0.1", "127.0.0.2"},
		WithHandoff(Handoff{Drain: 10 * time.Second}))
	keys := s.load(t, 20)
	s.setPods("-127.0.0.1", "127.0.0.2")
	select {
	case <-s.changes:
	case <-time.After(10 * time.Second):
		t.Fatal("the ring did not change within 10 s")
	}
	if err := s.m.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	got := s.peer.recorded()
	for _, key := range keys {
		if got[s.group.Name()+"/"+key] != "v:"+key {
			t.Errorf("entry %q was not handed over before Shutdown returned (%d of %d pushed)", key, len(got), len(keys))
			break
		}
	}
}

// TestShutdownPushesBeforeItsWatchShowsItLeave: Shutdown hands every entry over to its
// owner in the ring without this pod though the pod's own watch still shows it ready. On
// a busy node the watch showed the pod its own delete seconds late, or not before its
// drain ended, and the pod, waiting for that change to push, handed over nothing: at 150
// pods on two cores, two thirds of the working set were loaded again in a rolling update.
func TestShutdownPushesBeforeItsWatchShowsItLeave(t *testing.T) {
	s := startPushScene(t, true, []string{"127.0.0.1", "127.0.0.2"}, WithHandoff(Handoff{Drain: 10 * time.Second}))
	keys := s.load(t, 20)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- s.m.Shutdown(ctx) }()
	waitUntil(t, "every entry is handed over", func() bool { return len(s.peer.recorded()) == len(keys) })
	got := s.peer.recorded()
	for _, key := range keys {
		if got[s.group.Name()+"/"+key] != "v:"+key {
			t.Errorf("entry %q was not handed over (%d of %d pushed)", key, len(got), len(keys))
		}
	}
	cancel() // the others never see this pod leave here: the drain would run its 10 s
	<-shut
}

// TestQuickChangesPushEveryMovedEntry: a change that comes while the pushes of an earlier
// one run does not lose the earlier one's entries. A peer joins and the pushes of the keys
// it took start; a third pod joins before they are done: every entry the second pod owns
// at the end reaches it. The newer change used to end the earlier one's pushes and push
// only the keys it moved itself; in a rolling update the changes come faster than a cache
// is pushed, and a third of a long tail was loaded again.
func TestQuickChangesPushEveryMovedEntry(t *testing.T) {
	s := startSlowPushScene(t, true, 20*time.Millisecond, []string{"127.0.0.1"})
	keys := s.load(t, 300)
	s.setPods("127.0.0.1", "127.0.0.2")
	select {
	case <-s.changes:
	case <-time.After(10 * time.Second):
		t.Fatal("the ring did not change within 10 s")
	}
	waitUntil(t, "a push reaches the peer", func() bool { return s.peer.arrivals.Load() > 0 })
	s.setPods("127.0.0.1", "127.0.0.2", "127.0.0.3") // nothing serves on 127.0.0.3
	s.waitChange(t)
	want := map[string]string{}
	for _, key := range keys {
		if s.m.Owner(key) == s.other {
			want[s.group.Name()+"/"+key] = "v:" + key
		}
	}
	got := s.peer.recorded()
	missing := 0
	for k := range want {
		if _, ok := got[k]; !ok {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of the %d entries the second pod owns after both changes never reached it", missing, len(want))
	}
}

// TestPushToAPeerOfAnOlderVersion: a peer that answers Unimplemented is skipped for the
// rest of the change, one failure (the pushes already in flight to it fail with it);
// nothing else fails.
func TestPushToAPeerOfAnOlderVersion(t *testing.T) {
	s := startPushScene(t, false, []string{"127.0.0.1"})
	s.load(t, 100)
	s.setPods("127.0.0.1", "127.0.0.2")
	s.waitChange(t)
	st := s.m.Stats()
	assertCount(t, "Stats.PushFailures", st.PushFailures, 1)
	assertCount(t, "Stats.PushesSent", st.PushesSent, 0)
}

// TestPusherTakesChangesInAnyRhythm: changes submitted faster than the pusher takes them
// (each wake may find the job a previous wake already took) end with the pusher idle. A
// wake left over closed the idle channel twice, which crashed the pod at its second
// change of a rolling update.
func TestPusherTakesChangesInAnyRhythm(t *testing.T) {
	leakcheck.Check(t)
	one, _ := newRing([]string{"a:1"})
	p := newPusher("a:1", testConfig(), &counters{}, func() map[string]*keyLog { return nil },
		func() map[string]peerGetter { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(ctx)
	}()
	for range 1000 {
		p.submit(pushJob{from: one, to: one})
	}
	wait, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	p.waitIdle(wait)
	if wait.Err() != nil {
		t.Error("the pusher was not idle within 10 s of the last change")
	}
	cancel()
	<-done
}

// TestCloseIsPrompt: Close returns within 100 ms of real time when nobody is leaving,
// whether the pusher is idle or handing entries to a peer that takes 10 s per push.
func TestCloseIsPrompt(t *testing.T) {
	const within = 100 * time.Millisecond
	cases := []struct {
		name string
		keys int // loaded before the peer joins: the entries the change pushes
	}{
		{"idle, listed ready with a peer", 0},
		{"pushing to a slow peer", 50},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startSlowPushScene(t, true, 10*time.Second, []string{"127.0.0.1"})
			s.load(t, tc.keys)
			s.setPods("127.0.0.1", "127.0.0.2")
			select {
			case <-s.changes:
			case <-time.After(10 * time.Second):
				t.Fatal("the ring did not change within 10 s")
			}
			if tc.keys > 0 {
				waitUntil(t, "a push reaches the peer", func() bool { return s.peer.arrivals.Load() > 0 })
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				s.m.pusher.waitIdle(ctx)
			}
			start := time.Now()
			if err := s.m.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if took := time.Since(start); took > within {
				t.Errorf("Close took %v, want at most %v", took, within)
			}
		})
	}
}

// changeLogHold is a slog handler that, once armed, holds the line that logs a change of
// the peers until the manager logs the end of its drain, or for at most hold: a logger
// that writes slowly (a remote sink, a full pipe) while the drain runs.
type changeLogHold struct {
	armed   atomic.Bool
	hold    time.Duration
	drained chan struct{}
	once    sync.Once
}

func (h *changeLogHold) Enabled(context.Context, slog.Level) bool { return true }
func (h *changeLogHold) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *changeLogHold) WithGroup(string) slog.Handler            { return h }

func (h *changeLogHold) Handle(_ context.Context, r slog.Record) error {
	switch {
	case r.Message == "drained":
		h.once.Do(func() { close(h.drained) })
	case r.Message == "groupcache peers changed" && h.armed.Load():
		select {
		case <-h.drained:
		case <-time.After(h.hold):
		}
	}
	return nil
}

// TestDrainWaitsForTheChangesPushesWhileItIsLogged: the drain does not end between the
// router's publishing of the ring without this pod and the pusher's taking the change.
// setView logged the change in between, and a drain that polled then saw the others
// knowing, nobody asking and the pusher idle: it ended, and Shutdown cancelled the pushes
// the change started a moment later, every entry of the leaving pod.
func TestDrainWaitsForTheChangesPushesWhileItIsLogged(t *testing.T) {
	hold := &changeLogHold{hold: time.Second, drained: make(chan struct{})}
	s := startPushScene(t, true, []string{"127.0.0.1", "127.0.0.2"},
		WithHandoff(Handoff{Drain: 10 * time.Second}), WithLogger(slog.New(hold)))
	keys := s.load(t, 20)
	hold.armed.Store(true)
	shutdown := make(chan error, 1)
	go func() { shutdown <- s.m.Shutdown(context.Background()) }()
	s.setPods("-127.0.0.1", "127.0.0.2")
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	got := s.peer.recorded()
	missing := 0
	for _, key := range keys {
		if got[s.group.Name()+"/"+key] != "v:"+key {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of the %d entries were not handed over before Shutdown returned", missing, len(keys))
	}
}

// TestOneSlowPushDoesNotSkipItsOwner: a push that times out because its receiver is
// loading that key (the push waits for the load, as groupcache's Get does) costs that
// entry, not the rest of the change's entries for the same owner, which other pushes are
// reaching. A timeout skipped the owner for the rest of the change, as a frozen one is,
// and a single backend call slower than the push timeout at the new owner lost every
// entry the pusher had not reached yet.
func TestOneSlowPushDoesNotSkipItsOwner(t *testing.T) {
	s := startSlowPushScene(t, true, 50*time.Millisecond, []string{"127.0.0.1"})
	keys := s.load(t, 800)
	both, err := newRing([]string{s.self, s.other})
	if err != nil {
		t.Fatal(err)
	}
	var moved []string // newest first, the order of the key log and of the pushes
	for i := len(keys) - 1; i >= 0; i-- {
		if ownedBy(both, keys[i], s.other) {
			moved = append(moved, keys[i])
		}
	}
	s.peer.mu.Lock()
	s.peer.stuck = moved[0]
	s.peer.mu.Unlock()
	s.setPods("127.0.0.1", "127.0.0.2")
	s.waitChange(t)
	got := s.peer.recorded()
	missing := 0
	for _, key := range moved[1:] {
		if _, ok := got[s.group.Name()+"/"+key]; !ok {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of the %d entries other than the slow one never reached their owner", missing, len(moved)-1)
	}
	assertCount(t, "Stats.PushFailures", s.m.Stats().PushFailures, 1)
}

// TestPusherStopsPromptlyWhileListingEntries: the pusher's goroutine returns within
// 100 ms of the end of its context while it lists the entries of a change from full key
// logs (twenty groups of 65536 keys, sixteen changes merged), and well before the listing
// would have ended (a quarter of its time, on a machine too busy for 100 ms). The listing
// went through every key before looking at the context, for 400 ms here (seconds under
// the race detector), which Close waited for.
func TestPusherStopsPromptlyWhileListingEntries(t *testing.T) {
	leakcheck.Check(t)
	self := "10.0.0.0:8080"
	var members []string
	for i := range 40 {
		members = append(members, "10.0.0."+strconv.Itoa(i)+":8080")
	}
	full := &keyLog{}
	for i := range maxLoggedKeys {
		full.add("key-" + strconv.Itoa(i))
	}
	logs := map[string]*keyLog{}
	for g := range 20 { // twenty groups' names, one log: the listing's cost without twenty logs to fill
		logs["g"+strconv.Itoa(g)] = full
	}
	var armed atomic.Bool
	listing := make(chan struct{})
	var once sync.Once
	p := newPusher(self, testConfig(), &counters{},
		func() map[string]*keyLog {
			if armed.Load() {
				once.Do(func() { close(listing) })
			}
			return logs
		},
		func() map[string]peerGetter { return nil })
	for i := range 16 { // sixteen changes, merged before the pusher runs: each key is looked up in every ring
		from, err := newRing(members[:i+2])
		if err != nil {
			t.Fatal(err)
		}
		to, err := newRing(members[1:])
		if err != nil {
			t.Fatal(err)
		}
		p.submit(pushJob{from: from, to: to})
	}
	start := time.Now()
	p.entries(context.Background(), p.next)
	listed := time.Since(start)
	within := max(100*time.Millisecond, listed/4)
	armed.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(ctx)
	}()
	<-listing
	start = time.Now()
	cancel()
	<-done
	if took := time.Since(start); took > within {
		t.Errorf("the pusher returned %v after its context ended, want at most %v (a whole listing takes %v)",
			took, within, listed)
	}
}

// fakeOwner is a peer client that records the entries pushed to it, each push taking
// delay: a peer as the pusher sees it, without a network.
type fakeOwner struct {
	delay  time.Duration
	answer error // if set, every push fails with it; under mu once pushes run
	mu     sync.Mutex
	got    map[string]string // key → value
	// leavingFlags counts the pushes received that said their sender was leaving.
	leavingFlags int
	// past holds, by key, the owners each push received said it went past.
	past map[string][]string
	// pushes counts every push that reached it, answered or refused.
	pushes atomic.Int64
}

func (f *fakeOwner) Get(context.Context, *groupcachepb.GetRequest, *groupcachepb.GetResponse) error {
	return errNotCached
}
func (f *fakeOwner) Peek(context.Context, string, string) ([]byte, error) { return nil, errNotCached }
func (f *fakeOwner) Close() error                                         { return nil }

func (f *fakeOwner) Push(ctx context.Context, _, key string, value []byte) error {
	select { // the slow peer under test, not a synchronisation
	case <-time.After(f.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	f.pushes.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.answer != nil {
		return f.answer
	}
	f.got[key] = string(value)
	md, _ := metadata.FromOutgoingContext(ctx)
	if len(md.Get(pushLeavingMD)) > 0 {
		f.leavingFlags++
	}
	if past := md.Get(pushPastMD); len(past) > 0 {
		if f.past == nil {
			f.past = map[string][]string{}
		}
		f.past[key] = past
	}
	return nil
}

// restart forgets what the owner received: its process started again.
func (f *fakeOwner) restart() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.got)
}

func (f *fakeOwner) received() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.got)
}

// TestShutdownPushesPastOwnersThatAreGone: a pod that shuts down pushes past an owner in
// its ring that answers that it is leaving too, or that it cannot reach in two rounds, to
// the key's owner in the ring without that one; and tells each owner that it is leaving.
// At 150 pods the leaving pods' views were seconds old: they pushed, until their retries
// ran out, to owners that had exited or were leaving themselves, and those entries were
// loaded again.
func TestShutdownPushesPastOwnersThatAreGone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer error // of b, the owner that is gone
	}{
		{"an owner leaving too", errLeaving},
		{"an owner that exited", status.Error(codes.Unavailable, "connection refused")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, c := &fakeOwner{answer: tc.answer, got: map[string]string{}}, &fakeOwner{got: map[string]string{}}
			shutDownAmong(t, b, c, 10*time.Second)
			got := c.received()
			for i := range 100 {
				if key := "k" + strconv.Itoa(i); got[key] != "v:"+key {
					t.Fatalf("entry %q did not reach c, its owner without a and b (%d of 100 did)", key, len(got))
				}
			}
			if c.leavingFlags != len(got) {
				t.Errorf("%d of the %d pushes said the sender was leaving; want all", c.leavingFlags, len(got))
			}
			// Each entry says whether it went past b, so that c stores it while its own
			// ring still gives the key to b.
			withB := testRing(t, "b", "c")
			for key := range got {
				want := []string(nil)
				if ownedBy(withB, key, "b") {
					want = []string{"b"}
				}
				if past := c.past[key]; !slices.Equal(past, want) {
					t.Errorf("the push of %q said it went past %q; want %q", key, past, want)
				}
			}
		})
	}
}

// TestLeavingPodPushesEachEntryOnce: a pod out of its own ring pushes each entry once to
// its owner, and again only when a later change gives it another owner. Every change that
// came after a push had finished pushed every entry it held again (Shutdown's pushes after
// the change that dropped it, each change of a rolling update during its drain): the
// owners dropped them as held already, and the drain waited for each round.
func TestLeavingPodPushesEachEntryOnce(t *testing.T) {
	abc, bc, abcd, bcd := testRing(t, "a", "b", "c"), testRing(t, "b", "c"), testRing(t, "a", "b", "c", "d"), testRing(t, "b", "c", "d")
	owners := func(r *ring) map[string]string {
		out := map[string]string{}
		for i := range 100 {
			key := "k" + strconv.Itoa(i)
			if o := r.owner(key); o >= 0 {
				out[key] = r.members()[o]
			}
		}
		return out
	}
	changedOwner := 0 // the entries whose owner d is in bcd, not in bc
	for key, o := range owners(bcd) {
		if owners(bc)[key] != o {
			changedOwner++
		}
	}
	for _, tc := range []struct {
		name  string
		steps []func(p *pusher) // each step, then the pusher runs until idle
		want  int64             // pushes sent in all
	}{
		{"Shutdown, then a pod joins", []func(p *pusher){
			func(p *pusher) { p.leave(abc) },
			func(p *pusher) { p.submit(pushJob{from: abc, to: abcd}) },
		}, 100 + int64(changedOwner)},
		{"the change that drops it, then Shutdown", []func(p *pusher){
			func(p *pusher) { p.submit(pushJob{from: abc, to: bc}) },
			func(p *pusher) { p.leave(bc) },
		}, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			group, log := loggedGroup(t, 100)
			clients := map[string]peerGetter{}
			for _, id := range []string{"b", "c", "d"} {
				clients[id] = &fakeOwner{got: map[string]string{}}
			}
			stats := &counters{}
			p := newPusher("a", testConfig(), stats, func() map[string]*keyLog { return map[string]*keyLog{group.Name(): log} },
				func() map[string]peerGetter { return clients })
			runPusher(t, p)
			for _, step := range tc.steps {
				step(p)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				p.waitIdle(ctx)
				cancel()
			}
			if got := stats.pushesSent.Load(); got != tc.want {
				t.Errorf("%d pushes sent, want %d: each entry once, and again when its owner changed", got, tc.want)
			}
		})
	}
}

// shutDownAmong runs the pusher of pod a, which holds k0…k99 of one group, in the ring of
// a, b and c, has it leave, and waits up to within for its pushes; it returns its counters.
func shutDownAmong(t *testing.T, b, c *fakeOwner, within time.Duration) *counters {
	t.Helper()
	leakcheck.Check(t)
	group, log := loggedGroup(t, 100)
	stats := &counters{}
	p := newPusher("a", testConfig(), stats, func() map[string]*keyLog { return map[string]*keyLog{group.Name(): log} },
		func() map[string]peerGetter { return map[string]peerGetter{"b": b, "c": c} })
	runPusher(t, p)
	p.leave(testRing(t, "a", "b", "c"))
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	p.waitIdle(ctx)
	return stats
}

// TestShutdownWithEveryOwnerGoneCountsTheEntriesFailed: a pod that shuts down while every
// other pod of its ring is leaving or out of reach pushes its entries nowhere, and counts
// each as a failed push. The ring past those owners was empty, and the entries were
// dropped without a count: PushFailures said the hand-over went well.
func TestShutdownWithEveryOwnerGoneCountsTheEntriesFailed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer error // of b and c
	}{
		{"every owner leaving too", errLeaving},
		{"every owner exited", status.Error(codes.Unavailable, "connection refused")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, c := &fakeOwner{answer: tc.answer, got: map[string]string{}}, &fakeOwner{answer: tc.answer, got: map[string]string{}}
			stats := shutDownAmong(t, b, c, 20*time.Second)
			if got := stats.pushFailures.Load(); got != 100 {
				t.Errorf("PushFailures = %d after 100 entries reached no owner, want 100", got)
			}
		})
	}
}

// pusherAmongLeavingB returns a running pusher of pod a, holding 200 logged entries, whose
// peers are b, which answers every push that it is leaving, and c.
func pusherAmongLeavingB(t *testing.T) (p *pusher, b, c *fakeOwner) {
	t.Helper()
	leakcheck.Check(t)
	group, log := loggedGroup(t, 200)
	b, c = &fakeOwner{answer: errLeaving, got: map[string]string{}}, &fakeOwner{got: map[string]string{}}
	p = newPusher("a", testConfig(), &counters{}, func() map[string]*keyLog { return map[string]*keyLog{group.Name(): log} },
		func() map[string]peerGetter { return map[string]peerGetter{"b": b, "c": c} })
	runPusher(t, p)
	return p, b, c
}

// TestPushPastALeavingOwnerKeepsWhatThisPodOwnsAgain: a pod that stays pushes past an
// owner that answers that it is leaving to the key's owner in the ring without that one,
// and keeps the entries it owns itself there. The ring past the leaver left this pod out
// too: its own keys went to another pod, which does not own them and refuses them until
// the retries run out.
func TestPushPastALeavingOwnerKeepsWhatThisPodOwnsAgain(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to *ring
	}{
		{"b and c join, b leaving", testRing(t, "a"), testRing(t, "a", "b", "c")},
		{"d leaves, b leaving", testRing(t, "a", "b", "c", "d"), testRing(t, "a", "b", "c")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _, c := pusherAmongLeavingB(t)
			p.submit(pushJob{from: tc.from, to: tc.to})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p.waitIdle(ctx)
			got, past := c.received(), testRing(t, "a", "c")
			for i := range 200 {
				key := "k" + strconv.Itoa(i)
				// Pushed to c: c's own in to, and b's whose owner without b is c.
				moved := (&pushWork{froms: []*ring{tc.from}, to: tc.to}).moved(key, "a")
				want := moved && (ownedBy(tc.to, key, "c") || ownedBy(tc.to, key, "b") && ownedBy(past, key, "c"))
				if _, pushed := got[key]; pushed != want {
					t.Errorf("entry %q pushed to c: %v, want %v (owner without b: c %v, moved by the change %v)",
						key, pushed, want, ownedBy(past, key, "c"), moved)
				}
			}
		})
	}
}

// TestPushNamesTheOwnerThatLeft: an entry whose owner left in the change (it held the entry
// because that owner pushed it here) is pushed to its next owner naming the owner that left,
// so that a next owner whose ring still holds it stores the entry; an entry this pod owned
// names no one. Receivers that had not yet seen an owner leave refused such entries as "not
// the owner yet" until the retries ran out.
func TestPushNamesTheOwnerThatLeft(t *testing.T) {
	leakcheck.Check(t)
	group, log := loggedGroup(t, 200)
	c := &fakeOwner{got: map[string]string{}}
	p := newPusher("a", testConfig(), &counters{}, func() map[string]*keyLog { return map[string]*keyLog{group.Name(): log} },
		func() map[string]peerGetter { return map[string]peerGetter{"c": c} })
	runPusher(t, p)
	from, to := testRing(t, "a", "b"), testRing(t, "a", "c") // b leaves, c joins
	p.submit(pushJob{from: from, to: to})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.waitIdle(ctx)
	got := c.received()
	var fromB int
	for key := range got {
		want := []string(nil)
		if ownedBy(from, key, "b") {
			want = []string{"b"}
			fromB++
		}
		if !slices.Equal(c.past[key], want) {
			t.Errorf("the push of %q named %q as gone; want %q", key, c.past[key], want)
		}
	}
	if fromB == 0 || fromB == len(got) {
		t.Errorf("%d of the %d entries pushed were b's; want some of each", fromB, len(got))
	}
}

// TestLaterWorkGoesPastOwnersThatSaidTheyAreLeaving: once an owner has answered that it is
// leaving, later changes whose rings still hold it push its keys past it from the start,
// naming it, and do not ask it again; an owner that a ring left out and a later one holds
// again is a new process, asked again. In a 150-pod rollout a leaving pod's rings held
// owners that had said so seconds before, and each change spent a retry round asking them.
func TestLaterWorkGoesPastOwnersThatSaidTheyAreLeaving(t *testing.T) {
	p, b, c := pusherAmongLeavingB(t)
	idle := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		p.waitIdle(ctx)
	}
	p.leave(testRing(t, "a", "b")) // a shuts down; b answers that it is leaving too
	idle()
	asked := b.pushes.Load()
	if asked == 0 {
		t.Fatal("b was never asked")
	}
	p.submit(pushJob{from: testRing(t, "a", "b"), to: testRing(t, "a", "b", "c")}) // c joins; b is still in the ring
	idle()
	if got := b.pushes.Load(); got != asked {
		t.Errorf("b, which had said it was leaving, was asked %d more times; want none", got-asked)
	}
	got := c.received()
	if len(got) != 200 {
		t.Errorf("c got %d of the 200 entries; want all, b's past b", len(got))
	}
	withB := testRing(t, "b", "c")
	for key := range got {
		if want := ownedBy(withB, key, "b"); want != slices.Equal(c.past[key], []string{"b"}) {
			t.Errorf("the push of %q to c named %q as gone past; want b: %v", key, c.past[key], want)
		}
	}
	p.submit(pushJob{from: testRing(t, "a", "b", "c"), to: testRing(t, "a", "c")}) // b's endpoint is gone
	idle()
	b.mu.Lock()
	b.answer = nil // a new process at b's address
	b.mu.Unlock()
	p.submit(pushJob{from: testRing(t, "a", "c"), to: testRing(t, "a", "b", "c")})
	idle()
	if b.pushes.Load() == asked {
		t.Error("b, back in the ring after a ring without it, was not asked again")
	}
}

// TestLeavePushesToTheLatestRing: the work of leave pushes to the latest ring without this
// pod. The drain reads the ring for leave while the watch may hand the pusher a newer
// change: leave then brought back the older ring, and until the next change the entries
// went to owners of that ring, which refused the keys a newer pod owns until the retries
// ran out.
func TestLeavePushesToTheLatestRing(t *testing.T) {
	a, ab, abc := testRing(t, "a"), testRing(t, "a", "b"), testRing(t, "a", "b", "c")
	cases := []struct {
		name   string
		before []pushJob
		leave  *ring
		after  []pushJob
		want   []string
	}{
		{"no change before", nil, ab, nil, []string{"b"}},
		{"with the ring of the last change", []pushJob{{from: ab, to: abc}}, abc, nil, []string{"b", "c"}},
		{"with a ring older than the last change's", []pushJob{{from: ab, to: abc}}, ab, nil, []string{"b", "c"}},
		{"with a ring whose change comes next", []pushJob{{from: a, to: ab}}, abc, []pushJob{{from: ab, to: abc}},
			[]string{"b", "c"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPusher("a", testConfig(), &counters{}, func() map[string]*keyLog { return nil },
				func() map[string]peerGetter { return nil })
			for _, j := range tc.before {
				p.submit(j)
			}
			p.leave(tc.leave)
			for _, j := range tc.after {
				p.submit(j)
			}
			if got := p.next.to.members(); !slices.Equal(got, tc.want) || !p.next.all {
				t.Errorf("the work pushes every entry: %v, to %v; want true, to %v", p.next.all, got, tc.want)
			}
		})
	}
}

// TestOwnerBackAfterLeavingGetsItsEntriesAgain: an owner that leaves the ring and comes
// back under the same address (a container restarted in place, a pod IP used again) while
// the pushes of earlier changes still run has lost what it was pushed, and gets it again.
// The pusher skipped the entries it had delivered to that address before, for as long as
// changes kept merging, and the owner's share of them was lost.
func TestOwnerBackAfterLeavingGetsItsEntriesAgain(t *testing.T) {
	self, b, c := "10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"
	for _, tc := range []struct {
		name    string
		leaving bool // self shuts down first: it pushes every entry to the ring without it
	}{
		{"a pod that stays", false},
		{"a pod that shuts down", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			group, log := loggedGroup(t, 600)
			fb := &fakeOwner{got: map[string]string{}}
			fc := &fakeOwner{delay: 50 * time.Millisecond, got: map[string]string{}} // keeps the work running
			p := newPusher(self, testConfig(), &counters{},
				func() map[string]*keyLog { return map[string]*keyLog{group.Name(): log} },
				func() map[string]peerGetter { return map[string]peerGetter{b: fb, c: fc} })
			runPusher(t, p)
			alone, all, withoutB := testRing(t, self), testRing(t, self, b, c), testRing(t, self, c)
			if tc.leaving {
				p.leave(all)
			} else {
				p.submit(pushJob{from: alone, to: all})
			}
			waitUntil(t, "entries reach b", func() bool { return len(fb.received()) >= 20 })
			p.submit(pushJob{from: all, to: withoutB})
			fb.restart()
			back := testRing(t, self, b, c)
			p.submit(pushJob{from: withoutB, to: back})
			wait, stop := context.WithTimeout(context.Background(), 30*time.Second)
			defer stop()
			p.waitIdle(wait)
			owners := back
			if tc.leaving {
				owners = ringWithout(back.members(), self)
			}
			got := fb.received()
			missing, owned := 0, 0
			for _, key := range log.keys() {
				if ownedBy(owners, key, b) {
					owned++
					if got[key] != "v:"+key {
						missing++
					}
				}
			}
			if missing > 0 {
				t.Errorf("%d of the %d entries b owns after it came back never reached it again", missing, owned)
			}
		})
	}
}

// TestSlowOwnerDoesNotHoldBackTheOthers: an owner that answers slowly, but in time, gets
// no more than its share of the pushes in flight, and the entries of an owner that answers
// at once reach it while the slow one's are still going. Every slot ended up waiting on the
// slow owner, whose entries came in the same queue, and a leaving pod's drain ended with
// the fast owner's entries undelivered too.
func TestSlowOwnerDoesNotHoldBackTheOthers(t *testing.T) {
	leakcheck.Check(t)
	self, fast, slow := "10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"
	group, log := loggedGroup(t, 300)
	ff := &fakeOwner{got: map[string]string{}}
	fs := &fakeOwner{delay: 200 * time.Millisecond, got: map[string]string{}}
	p := newPusher(self, testConfig(), &counters{},
		func() map[string]*keyLog { return map[string]*keyLog{group.Name(): log} },
		func() map[string]peerGetter { return map[string]peerGetter{fast: ff, slow: fs} })
	runPusher(t, p)
	alone, all := testRing(t, self), testRing(t, self, fast, slow)
	toFast, toSlow := 0, 0
	for _, key := range log.keys() {
		switch {
		case ownedBy(all, key, fast):
			toFast++
		case ownedBy(all, key, slow):
			toSlow++
		}
	}
	p.submit(pushJob{from: alone, to: all})
	waitUntil(t, "the fast owner has its entries", func() bool { return len(ff.received()) == toFast })
	if got := len(fs.received()); got > toSlow/2 {
		t.Errorf("the slow owner had %d of its %d entries when the fast one had its %d: the fast one waited for it",
			got, toSlow, toFast)
	}
}

// TestPushToAPeerOutOfReachForAMoment: pushes that fail at once as Unavailable (the
// owner's liveness mark, a refused connection) are pushed again later, and every entry
// arrives. The owner used to be skipped for the rest of the change, and a leaving pod
// whose peers had been marked a moment before handed over nothing.
func TestPushToAPeerOutOfReachForAMoment(t *testing.T) {
	s := startPushScene(t, true, []string{"127.0.0.1"})
	s.peer.refuse.Store(20)
	keys := s.load(t, 100)
	s.setPods("127.0.0.1", "127.0.0.2")
	s.waitChange(t)
	moved := 0
	got := s.peer.recorded()
	for _, key := range keys {
		if s.m.Owner(key) != s.other {
			continue
		}
		moved++
		if got[s.group.Name()+"/"+key] != "v:"+key {
			t.Errorf("entry %q never reached its owner, out of reach for its first 20 pushes", key)
		}
	}
	if moved == 0 {
		t.Fatal("no key moved to the new pod")
	}
}

// TestPushWorkMerges: which entries the work of merged changes pushes, for self "a": a
// key a owned in a ring before any of the changes and does not own in the last is pushed,
// whichever change moved it; a key a owns in the last ring is not; with no ring before
// (from nil), or more changes than maxMergedChanges, every key a does not own is.
func TestPushWorkMerges(t *testing.T) {
	a, ab, abc, bc := testRing(t, "a"), testRing(t, "a", "b"), testRing(t, "a", "b", "c"), testRing(t, "b", "c")
	abd := testRing(t, "a", "b", "d")
	many := make([]pushJob, maxMergedChanges+1)
	for i := range many {
		many[i] = pushJob{from: bc, to: abc}
	}
	notAs := func(r *ring) func(string) bool { return func(key string) bool { return !ownedBy(r, key, "a") } }
	cases := []struct {
		name    string
		leaving *ring // if set, a leaves from this ring first
		changes []pushJob
		want    func(key string) bool
	}{
		{"one change: b joins", nil, []pushJob{{from: a, to: ab}}, notAs(ab)},
		{"b joins, then c before the pushes ran", nil, []pushJob{{from: a, to: ab}, {from: ab, to: abc}}, notAs(abc)},
		{"a leaves: the keys a owned", nil, []pushJob{{from: abc, to: bc}}, func(key string) bool { return ownedBy(abc, key, "a") }},
		{"from nil", nil, []pushJob{{from: nil, to: abc}}, notAs(abc)},
		{"more changes than followed one by one", nil, many, notAs(abc)},
		{"a owned no key before", nil, []pushJob{{from: bc, to: abc}}, func(string) bool { return false }},
		{"d leaves: the keys d owned that a holds go to their next owner, the pushes d made to a " +
			"before a saw it leave", nil, []pushJob{{from: abd, to: ab}},
			func(key string) bool { return ownedBy(abd, key, "d") && !ownedBy(ab, key, "a") }},
		{"a shuts down: every entry, to the ring without it", abc, nil, func(string) bool { return true }},
		{"a shuts down, then a change that still shows it: every entry, to the ring without it", ab,
			[]pushJob{{from: ab, to: abc}}, func(string) bool { return true }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPusher("a", testConfig(), &counters{}, func() map[string]*keyLog { return nil },
				func() map[string]peerGetter { return nil })
			if tc.leaving != nil {
				p.leave(tc.leaving)
			}
			for _, j := range tc.changes {
				p.submit(j)
			}
			if tc.leaving != nil && slices.Contains(p.next.to.members(), "a") {
				t.Fatalf("the work pushes to %v, a ring with the pod that shuts down", p.next.to.members())
			}
			pushed := 0
			for i := range 2000 {
				key := "k" + strconv.Itoa(i)
				got := p.next.moved(key, "a")
				if want := tc.want(key); got != want {
					t.Fatalf("moved(%q) = %v, want %v", key, got, want)
				}
				if got {
					pushed++
				}
			}
			t.Logf("%d of 2000 keys pushed", pushed)
		})
	}
}

// testRing is the ring of ids.
func testRing(t *testing.T, ids ...string) *ring {
	t.Helper()
	r, err := newRing(ids)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// loggedGroup returns a group made by groupcache.NewGroup that holds k0…k(n-1), loaded,
// and a key log of them, as a group made by NewGroup would have.
func loggedGroup(t *testing.T, n int) (*groupcache.Group, *keyLog) {
	t.Helper()
	group := groupcache.NewGroup(fmt.Sprintf("%s#%d", t.Name(), groupSeq.Add(1)), 1<<20,
		groupcache.GetterFunc(func(_ context.Context, key string, dest groupcache.Sink) error {
			return dest.SetString("v:" + key)
		}))
	log := &keyLog{}
	for i := range n {
		key := "k" + strconv.Itoa(i)
		var v string
		if err := group.Get(t.Context(), key, groupcache.StringSink(&v)); err != nil {
			t.Fatal(err)
		}
		log.add(key)
	}
	return group, log
}

// runPusher runs p until the test ends.
func runPusher(t *testing.T, p *pusher) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
}
