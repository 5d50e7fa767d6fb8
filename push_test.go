package k8s

// Tests of the push's receiving side: only peers may push; an entry is stored as if
// loaded here only for a group made by NewGroup and a key this pod owns; a peer that
// does not know pushes answers Unimplemented.

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"github.com/groupcache-k8s/k8s/internal/fakeapi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// pushTarget is a manager on 127.0.0.1 whose ring is itself and 127.0.0.2, serving on its
// own server, with a group made by NewGroup whose getter counts its loads.
type pushTarget struct {
	m     *PeersManager
	self  string
	group *groupcache.Group
	loads *atomic.Int64
}

func startPushTarget(t *testing.T) pushTarget {
	t.Helper()
	port := strconv.Itoa(freePort(t))
	self := net.JoinHostPort("127.0.0.1", port)
	m, _, err := newManager(t.Context(), t, fakeapi.Listing(10, readySlice("cache-x1", "127.0.0.1", "127.0.0.2", "127.0.0.3")), self,
		WithoutPeerPickerRegistration(), noHandoff)
	if err != nil {
		t.Fatal(err)
	}
	if err := registerPicker(m); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unregisterPicker(m) })
	loads := new(atomic.Int64)
	group := m.NewGroup(fmt.Sprintf("%s#%d", t.Name(), groupSeq.Add(1)), 1<<20,
		groupcache.GetterFunc(func(_ context.Context, key string, dest groupcache.Sink) error {
			loads.Add(1)
			return dest.SetString("loaded " + key)
		}))
	return pushTarget{m: m, self: self, group: group, loads: loads}
}

// pusherFrom returns a client of target whose connections go out from ip.
func pusherFrom(t *testing.T, ip, target string) *peerClient {
	t.Helper()
	cfg := testConfig()
	channel := newTestChannel(t, cfg)
	channel.from = netip.MustParseAddr(ip)
	c := newPeerClient(target, channel, cfg, &counters{}, &loopGuard{})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPushIsStoredOnlyFromPeersForItsOwner: a push from an address that is neither a
// member nor a leaving peer is refused; from a peer, an entry of a group made by NewGroup
// whose key this pod owns is stored as if loaded (a Get answers it without the getter),
// and any other entry is dropped, one for a key held already too (it keeps its value,
// and counted as stored it made the receivers' count exceed what they stored). No push counts as a peer's request, which keeps a drain
// going: a push to a leaving pod, from a peer that has not seen it leave, is answered
// that it does not own the key, and its retries kept the drain going for seconds more.
// A key whose owner here the sender pushed it past (it answered that it is leaving) is
// stored: at 150 pods, receivers that had not yet seen that owner leave refused such
// entries until the sender's retries ran out, and the keys were loaded again.
func TestPushIsStoredOnlyFromPeersForItsOwner(t *testing.T) {
	target := startPushTarget(t)
	snap := target.m.router.snapshot()
	owned := keyOwnedBy(t, snap, target.self)
	notOwned := keyOwnedBy(t, snap, net.JoinHostPort("127.0.0.2", strconv.Itoa(portOf(t, target.self))))
	notOwnedFresh := keyOwnedByPrefix(t, snap, net.JoinHostPort("127.0.0.2", strconv.Itoa(portOf(t, target.self))), "fresh-")
	thirdID := net.JoinHostPort("127.0.0.3", strconv.Itoa(portOf(t, target.self)))
	third := keyOwnedBy(t, snap, thirdID)
	pastThird := keyOwnedByPrefix(t, snap, thirdID, "past-")
	fresh := keyOwnedByPrefix(t, snap, target.self, "fresh-")
	held := keyOwnedByPrefix(t, snap, target.self, "held-")
	leaving := keyOwnedByPrefix(t, snap, target.self, "leaving-")
	var v string
	if err := target.group.Get(t.Context(), held, groupcache.StringSink(&v)); err != nil {
		t.Fatal(err)
	}
	plain := newTestGroup(t, echoGetter) // made by groupcache.NewGroup
	tests := []struct {
		name      string
		from      string // the sender's IP
		group     string
		key       string
		wantCode  codes.Code
		wantStats Stats  // the change of the push counters
		wantValue string // what a Get of key returns afterwards, "" to skip
		draining  bool   // the push comes while the target shuts down
		leaving   bool   // the sender says it is leaving
		past      string // the owner the sender says it pushed the entry past; "" for none
	}{
		{"not a peer", "127.0.0.4", target.group.Name(), owned, codes.PermissionDenied,
			Stats{PushesRefused: 1}, "loaded " + owned, false, false, ""},
		{"a peer, a key this pod owns", "127.0.0.2", target.group.Name(), fresh, codes.OK,
			Stats{PushesReceived: 1, PushedBytesReceived: int64(len("pushed"))}, "pushed", false, false, ""},
		{"a key this pod holds already", "127.0.0.2", target.group.Name(), held, codes.OK,
			Stats{PushesDropped: 1}, "loaded " + held, false, false, ""},
		{"a key this pod does not own (yet)", "127.0.0.2", target.group.Name(), notOwned, codes.FailedPrecondition,
			Stats{PushesDropped: 1}, "", false, false, ""},
		{"a group not made by NewGroup", "127.0.0.2", plain.Name(), owned, codes.OK, Stats{PushesDropped: 1}, "", false, false, ""},
		{"while this pod shuts down: it handed its entries over already", "127.0.0.2", target.group.Name(), leaving,
			codes.FailedPrecondition, Stats{PushesDropped: 1}, "loaded " + leaving, true, false, ""},
		{"no such group", "127.0.0.2", "no-such-group", owned, codes.OK, Stats{PushesDropped: 1}, "", false, false, ""},
		{"from a leaving peer, a key it still owns in this pod's ring", "127.0.0.2", target.group.Name(), notOwnedFresh,
			codes.OK, Stats{PushesReceived: 1, PushedBytesReceived: int64(len("pushed"))}, "pushed", false, true, ""},
		{"from a leaving peer, a key a third pod owns in this pod's ring", "127.0.0.2", target.group.Name(), third,
			codes.FailedPrecondition, Stats{PushesDropped: 1}, "", false, true, ""},
		{"a key whose owner in this pod's ring the sender pushed it past", "127.0.0.2", target.group.Name(), pastThird,
			codes.OK, Stats{PushesReceived: 1, PushedBytesReceived: int64(len("pushed"))}, "pushed", false, false, thirdID},
		{"pushed past a pod that is not the key's owner here", "127.0.0.2", target.group.Name(), third,
			codes.FailedPrecondition, Stats{PushesDropped: 1}, "", false, true, "127.0.0.2:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.draining {
				target.m.stats.draining.Store(true)
				defer target.m.stats.draining.Store(false)
			}
			before, lastRequest := target.m.Stats(), target.m.stats.lastPeerRequest.Load()
			ctx := requestContext(t, 5*time.Second)
			if tt.leaving {
				ctx = metadata.AppendToOutgoingContext(ctx, pushLeavingMD, "1")
			}
			if tt.past != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, pushPastMD, tt.past)
			}
			err := pusherFrom(t, tt.from, target.self).Push(ctx, tt.group, tt.key, []byte("pushed"))
			if status.Code(err) != tt.wantCode {
				t.Fatalf("Push = %v, want %v", err, tt.wantCode)
			}
			after := target.m.Stats()
			got := Stats{PushesReceived: after.PushesReceived - before.PushesReceived,
				PushedBytesReceived: after.PushedBytesReceived - before.PushedBytesReceived,
				PushesRefused:       after.PushesRefused - before.PushesRefused,
				PushesDropped:       after.PushesDropped - before.PushesDropped}
			if got != tt.wantStats {
				t.Errorf("push counters changed by %+v, want %+v", got, tt.wantStats)
			}
			if target.m.stats.lastPeerRequest.Load() != lastRequest {
				t.Error("the push counted as a peer's Get or peek (it would keep a drain going)")
			}
			if tt.wantValue == "" {
				return
			}
			loads := target.loads.Load()
			var v string
			if err := target.group.Get(t.Context(), tt.key, groupcache.StringSink(&v)); err != nil || v != tt.wantValue {
				t.Errorf("Get(%q) after the push = %q, %v; want %q", tt.key, v, err, tt.wantValue)
			}
			if tt.wantValue == "pushed" && target.loads.Load() != loads {
				t.Errorf("the getter loaded the pushed key")
			}
		})
	}
}

// keyOwnedByPrefix returns a key that id owns in s among prefix0…prefix9999.
func keyOwnedByPrefix(t *testing.T, s *snapshot, id, prefix string) string {
	t.Helper()
	for i := range 10000 {
		if key := prefix + strconv.Itoa(i); ownedBy(s.ring, key, id) {
			return key
		}
	}
	t.Fatalf("no key %s* owned by %s", prefix, id)
	return ""
}

// TestPushToAPeerWithoutPushes: a peer of a version without pushes answers Unimplemented,
// which the sender can tell from a failure.
func TestPushToAPeerWithoutPushes(t *testing.T) {
	old := groupCacheServiceDesc
	old.Methods = nil
	for _, m := range groupCacheServiceDesc.Methods {
		if m.MethodName != "Push" {
			old.Methods = append(old.Methods, m)
		}
	}
	srv := grpc.NewServer()
	srv.RegisterService(&old, newGetService(&counters{}, &loopGuard{}, testConfig()))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	err = pusherFrom(t, "127.0.0.1", lis.Addr().String()).Push(requestContext(t, 5*time.Second), "g", "k", []byte("v"))
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("Push to a peer without pushes = %v, want Unimplemented", err)
	}
}

// TestFromPeer: which addresses a push is accepted from.
func TestFromPeer(t *testing.T) {
	v := view{members: []string{"10.0.0.1:8080", "10.0.0.2:8080", "[fd00::3]:8080"}, leaving: []string{"10.0.0.9:8080"}}
	tests := []struct {
		addr net.Addr
		want bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("10.0.0.2"), Port: 40000}, true},
		{&net.TCPAddr{IP: net.ParseIP("10.0.0.9"), Port: 40000}, true}, // leaving
		{&net.TCPAddr{IP: net.ParseIP("fd00::3"), Port: 40000}, true},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.2"), Port: 40000}, true}, // IPv4-mapped
		{&net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 40000}, false},       // self: another container of the pod
		{&net.TCPAddr{IP: net.ParseIP("10.0.0.3"), Port: 8080}, false},
		{&net.UnixAddr{Name: "/tmp/x", Net: "unix"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		ctx := context.Background()
		if tt.addr != nil {
			ctx = peerContext(ctx, tt.addr)
		}
		if got := fromPeer(ctx, v, "10.0.0.1:8080"); got != tt.want {
			t.Errorf("fromPeer(%v) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

// peerContext is ctx as a server sees a call from addr.
func peerContext(ctx context.Context, addr net.Addr) context.Context {
	return peer.NewContext(ctx, &peer.Peer{Addr: addr})
}

// TestPushNotForwardedWhenTheKeyMovesOnMeanwhile: a push is stored through group.Get,
// which asks the picker again; if a later ring gives the key to another pod, the peer
// client answers with the pushed value and sends nothing (it forwarded the push to the
// new owner as a Get, which loaded the key from its backend).
func TestPushNotForwardedWhenTheKeyMovesOnMeanwhile(t *testing.T) {
	p := newTestPair(t)
	loads := new(atomic.Int64)
	group := newTestGroup(t, func(_ context.Context, key string, dest groupcache.Sink) error {
		loads.Add(1)
		return dest.SetString("loaded " + key)
	})
	pushed := context.WithValue(requestContext(t, 5*time.Second), pushedKey{},
		&pushedEntry{group: group.Name(), key: "k", value: []byte("pushed")})
	storingPush(t) // as getPushed does around the group.Get that calls the peer client
	var out groupcachepb.GetResponse
	if err := p.client.Get(pushed, getRequest(group.Name(), "k"), &out); err != nil {
		t.Fatalf("Get with a pushed entry: %v", err)
	}
	if string(out.GetValue()) != "pushed" {
		t.Errorf("Get with a pushed entry answered %q, want the pushed value", out.GetValue())
	}
	assertCount(t, "peer RPCs", p.client.stats.peerRPCs.Load(), 0)
	assertCount(t, "the new owner's loads", loads.Load(), 0)
	// Another key of the same context is no push: it is forwarded.
	if err := p.client.Get(pushed, getRequest(group.Name(), "other"), &out); err != nil || string(out.GetValue()) != "loaded other" {
		t.Errorf("Get of another key = %q, %v; want the peer's load", out.GetValue(), err)
	}
	assertCount(t, "peer RPCs", p.client.stats.peerRPCs.Load(), 1)
}

// storingPush counts a push as being stored (in getPushed) until the test ends.
func storingPush(t *testing.T) {
	pushesStoring.Add(1)
	t.Cleanup(func() { pushesStoring.Add(-1) })
}

// askCounter is a context that counts the lookups of a pushed entry in it.
type askCounter struct {
	context.Context
	asked int
}

func (c *askCounter) Value(key any) any {
	if key == (pushedKey{}) {
		c.asked++
	}
	return c.Context.Value(key)
}

// TestPushedValueOnlyWhileAPushIsStored: the getter and the peer client find the entry a
// context carries for their group and key, and store it, only while a push is being stored
// (getPushed); while none is, they do not look into the context at all, as every load of
// a group made by NewGroup asks.
func TestPushedValueOnlyWhileAPushIsStored(t *testing.T) {
	tests := []struct {
		name       string
		storing    bool // a push is being stored
		group, key string
		want       string // the value found, "" for none
		wantAsked  int    // lookups of the entry in the context
	}{
		{name: "no push being stored", group: "g", key: "k", wantAsked: 0},
		{name: "its group and key", storing: true, group: "g", key: "k", want: "pushed", wantAsked: 1},
		{name: "another key", storing: true, group: "g", key: "other", wantAsked: 1},
		{name: "another group", storing: true, group: "other", key: "k", wantAsked: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.storing {
				storingPush(t)
			}
			entry := &pushedEntry{group: "g", key: "k", value: []byte("pushed")}
			stored := &entry.stored
			ctx := &askCounter{Context: context.WithValue(t.Context(), pushedKey{}, entry)}
			value, ok := pushedValue(ctx, tt.group, tt.key)
			if got := string(value); ok != (tt.want != "") || got != tt.want {
				t.Errorf("pushedValue = %q, %v; want %q", got, ok, tt.want)
			}
			if stored.Load() {
				t.Error("pushedValue counted the push as stored")
			}
			value, ok = storePushedValue(ctx, tt.group, tt.key)
			if got := string(value); ok != (tt.want != "") || got != tt.want {
				t.Errorf("storePushedValue = %q, %v; want %q", got, ok, tt.want)
			}
			if stored.Load() != (tt.want != "") {
				t.Errorf("the push counts as stored: %v, want %v", stored.Load(), tt.want != "")
			}
			if ctx.asked != 2*tt.wantAsked {
				t.Errorf("the two calls looked into the context %d times, want %d", ctx.asked, 2*tt.wantAsked)
			}
		})
	}
}

// TestPushOfAKeyHeldButNotLoggedIsLogged: a pushed key this pod holds already, not through
// its getter (a hot copy taken from the key's owner before this pod owned it), keeps its
// value and joins the key log, from which the pusher hands it on at the next change. It
// was left out of the log, and a rolling update's next step lost it.
func TestPushOfAKeyHeldButNotLoggedIsLogged(t *testing.T) {
	target := startPushTarget(t)
	key := keyOwnedByPrefix(t, target.m.router.snapshot(), target.self, "held-")
	var v string
	if err := target.group.Get(t.Context(), key, groupcache.StringSink(&v)); err != nil {
		t.Fatal(err)
	}
	h, _ := newGroupNames.Load(target.group.Name())
	log := &h.(*handoffGetter).keys
	log.mu.Lock()
	log.ring, log.head, log.n, log.bytes = nil, 0, 0, 0 // held, as a hot copy is, but not logged
	log.mu.Unlock()
	if err := pusherFrom(t, "127.0.0.2", target.self).Push(requestContext(t, 5*time.Second), target.group.Name(), key, []byte("pushed")); err != nil {
		t.Fatalf("Push: %v", err)
	}
	if err := target.group.Get(t.Context(), key, groupcache.StringSink(&v)); err != nil || v != "loaded "+key {
		t.Errorf("Get after the push = %q, %v; want the value held before (%q)", v, err, "loaded "+key)
	}
	if got := log.keys(); len(got) != 1 || got[0] != key {
		t.Errorf("key log after the push = %q, want [%q]", got, key)
	}
}

// TestPushOfALongKeyKeepsTheKeyLog: a push of one long key (a peer may send keys of
// megabytes in the call's metadata) does not make the receiver forget the keys it had
// logged, which it hands on at the next change. A key of up to the log's whole byte bound
// was logged, and pushed out every other key.
func TestPushOfALongKeyKeepsTheKeyLog(t *testing.T) {
	target := startPushTarget(t)
	snap := target.m.router.snapshot()
	var keys []string
	for i := range 100 {
		key := keyOwnedByPrefix(t, snap, target.self, "short-"+strconv.Itoa(i)+"-")
		var v string
		if err := target.group.Get(t.Context(), key, groupcache.StringSink(&v)); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	long := keyOwnedByPrefix(t, snap, target.self, strings.Repeat("x", maxLoggedBytes-100))
	if err := pusherFrom(t, "127.0.0.2", target.self).Push(requestContext(t, 5*time.Second), target.group.Name(), long, []byte("v")); err != nil {
		t.Fatalf("Push of a long key: %v", err)
	}
	h, _ := newGroupNames.Load(target.group.Name())
	logged := h.(*handoffGetter).keys.keys()
	for _, key := range keys {
		if !slices.Contains(logged, key) {
			t.Fatalf("after the push of a %d-byte key the log holds %d keys; the %d loaded before it are gone",
				len(long), len(logged), len(keys))
		}
	}
}

// TestStoringPushes: a key is stored while a push of it runs, once per push, and PickPeer's
// check does not wait for a push that adds or drops a key meanwhile. It took the set's
// lock while any push was stored, and during a hand-over every Get of the receiver did.
func TestStoringPushes(t *testing.T) {
	cases := []struct {
		name       string
		add, done  []string
		key        string
		wantStored bool
	}{
		{"nothing stored", nil, nil, "k", false},
		{"stored", []string{"k"}, nil, "k", true},
		{"another key stored", []string{"j"}, nil, "k", false},
		{"stored twice, one done", []string{"k", "k"}, []string{"k"}, "k", true},
		{"stored twice, both done", []string{"k", "k"}, []string{"k", "k"}, "k", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s storingPushes
			for _, k := range tc.add {
				s.add(k)
			}
			for _, k := range tc.done {
				s.done(k)
			}
			s.mu.Lock() // a push adding or dropping a key meanwhile
			answer := make(chan bool, 1)
			go func() { answer <- s.has(tc.key) }()
			select {
			case got := <-answer:
				if got != tc.wantStored {
					t.Errorf("has(%q) = %v, want %v", tc.key, got, tc.wantStored)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("has(%q) waited for a push's change of the set", tc.key)
			}
			s.mu.Unlock()
		})
	}
}
