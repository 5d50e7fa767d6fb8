package k8s

// The push: a pod hands an entry it holds to the key's new owner, which stores it in its
// group's cache as if it had loaded it. This file holds both sides of the Push method;
// which entries are pushed, and when, is the pusher's (pusher.go).

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// pushMethod is the full method name of Push, this library's addition to the service:
// the request is a GetResponse carrying the entry's value, with its group and key in the
// call's metadata (pushGroupMD, pushKeyMD), so that the message is groupcache's own and
// any server's proto codec reads it; the answer is an empty GetResponse. Peers that do
// not know it answer codes.Unimplemented.
const pushMethod = "/" + grpcServiceName + "/Push"

// The metadata keys of a push; "-bin" keys carry any bytes. pushLeavingMD, present, says
// that the sender is shutting down and hands over what it holds; pushPastMD, one value
// per peer id, names the owners the sender pushed the entry past, because they answered
// that they are leaving or, to a leaving sender, could not be reached, and the key's owners
// in the sender's earlier rings that its new ring left out.
const (
	pushGroupMD   = "groupcache-push-group-bin"
	pushKeyMD     = "groupcache-push-key-bin"
	pushLeavingMD = "groupcache-push-leaving"
	pushPastMD    = "groupcache-push-past"
)

// errNotOwner answers a push for a key this pod does not own in its ring: often one it is
// about to own, in a change it has not seen yet.
var errNotOwner = status.Error(codes.FailedPrecondition, "groupcache-k8s: this pod does not own the key (yet)")

// errLeaving answers a push to a pod that is shutting down: the sender pushes the entry
// to its owner in the ring without this pod (pusher.go).
var errLeaving = status.Error(codes.FailedPrecondition, leavingMessage)

const leavingMessage = "groupcache-k8s: this pod is leaving and takes no pushes"

// isLeaving reports whether err is a peer's answer that it is leaving.
func isLeaving(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.FailedPrecondition && st.Message() == leavingMessage
}

// errPushRefused answers a push from an address that is not a peer.
var errPushRefused = status.Error(codes.PermissionDenied,
	"groupcache-k8s: pushes are accepted from the ring's members and leaving peers only")

// Push stores a peer's entry in the group's cache, as a load of the key here would: only
// if the sender is a peer (its address is a member or a leaving peer of this pod's view;
// pods dial their peers from their own IP), the group was made by NewGroup and this pod
// owns the key in its ring (or the key's owner there is leaving, by the sender's word: the
// sender itself, saying it is leaving, or an owner it says it pushed the entry past or saw
// leave), and
// it is not shutting down. An entry for another group is
// dropped and answered with OK; one for a key this pod does not own, or sent while it
// shuts down, with FailedPrecondition, which the sender retries (the change that makes
// this pod the owner, or that drops it, may reach the sender or this pod a moment after
// the other). A key already cached here keeps its value, and the push counts as dropped.
func (s *getService) Push(ctx context.Context, in *groupcachepb.GetResponse) (*groupcachepb.GetResponse, error) {
	snap := s.routing()
	sender, ok := senderPeer(ctx, snap.view, s.self)
	if !ok {
		s.stats.pushesRefused.Add(1)
		return nil, errPushRefused
	}
	// Not a peer's request (served): the drain waits for the Gets and peeks of peers that
	// still route to this pod; a push to a leaving pod comes from a peer that has not seen
	// it leave, and is answered that the key is not this pod's.
	md, _ := metadata.FromIncomingContext(ctx)
	groups, keys := md.Get(pushGroupMD), md.Get(pushKeyMD)
	if len(groups) != 1 || len(keys) != 1 {
		return nil, status.Error(codes.InvalidArgument, "groupcache-k8s: a push names one group and one key")
	}
	name, key := groups[0], keys[0]
	group := groupcache.GetGroup(name)
	h, ours := newGroupNames.Load(name)
	if !ours || group == nil {
		s.stats.pushesDropped.Add(1)
		return &groupcachepb.GetResponse{}, nil
	}
	if s.stats.draining.Load() {
		s.stats.pushesDropped.Add(1)
		if s.logger.Enabled(ctx, slog.LevelDebug) { // checked first: the arguments would allocate even with debug off
			s.logger.DebugContext(ctx, "push refused: this pod is leaving", "group", name, "key", key)
		}
		return nil, errLeaving // it handed its entries over already: one stored now would be lost
	}
	owner := snap.ring.owner(key)
	switch {
	case snap.self >= 0 && owner == snap.self:
	case snap.self >= 0 && owner >= 0 && (snap.ring.members()[owner] == sender && len(md.Get(pushLeavingMD)) > 0 ||
		slices.Contains(md.Get(pushPastMD), snap.ring.members()[owner])):
		// The key's owner in this pod's ring is leaving, by the sender's word: the sender
		// itself, handing over what it holds, or an owner that answered the sender that it
		// is leaving (or that a leaving sender could not reach). This pod has not seen it
		// leave yet, and on a busy node may not before the sender or that owner is gone.
		// Stored here as loaded (groupcache's picker answers the key locally while it is
		// stored), it is handed on at the change that drops that owner, if this pod is not
		// the key's next owner (pushWork.moved).
		s.storing.add(key)
		defer s.storing.done(key)
	default:
		s.stats.pushesDropped.Add(1)
		if s.logger.Enabled(ctx, slog.LevelDebug) {
			s.logger.DebugContext(ctx, "push refused: not the key's owner (yet)", "group", name, "key", key)
		}
		return nil, errNotOwner // the sender may try again once this pod has seen the change
	}
	// group.Get asks the picker again, which may see a later ring in which another pod
	// owns the key: the peer client then answers with the pushed value instead of
	// forwarding it (peerClient.Get), and groupcache keeps it as any peer's answer.
	var discard []byte
	entry := &pushedEntry{group: name, key: key, value: in.GetValue()}
	pushed := context.WithValue(ctx, pushedKey{}, entry)
	if err := getPushed(pushed, group, key, groupcache.AllocatingByteSliceSink(&discard)); err != nil {
		s.stats.pushesDropped.Add(1)
		if s.logger.Enabled(ctx, slog.LevelDebug) {
			s.logger.DebugContext(ctx, "push dropped: storing it failed", "group", name, "key", key, "error", err)
		}
		return &groupcachepb.GetResponse{}, nil
	}
	// The getter logs the keys it stores. A key held already did not pass through it: a
	// hot copy taken from its owner before this pod owned it. It is this pod's to hand on
	// at the next change, and the log is what the pusher reads.
	h.(*handoffGetter).keys.add(key)
	if !entry.stored.Load() { // held already, loaded meanwhile, or owned by another pod by now
		s.stats.pushesDropped.Add(1)
		if s.logger.Enabled(ctx, slog.LevelDebug) {
			s.logger.DebugContext(ctx, "push dropped: held already, or owned by another pod by now", "group", name, "key", key)
		}
		return &groupcachepb.GetResponse{}, nil
	}
	s.stats.pushesReceived.Add(1)
	if s.logger.Enabled(ctx, slog.LevelDebug) {
		s.logger.DebugContext(ctx, "push stored", "group", name, "key", key)
	}
	s.stats.pushedBytesReceived.Add(int64(len(in.GetValue())))
	return &groupcachepb.GetResponse{}, nil
}

// pushedKey is the context key of the entry a push stores, a *pushedEntry.
type pushedKey struct{}

// pushedEntry is a pushed entry, on its way to its group's getter (group.go), which
// returns it instead of loading the key: groupcache then keeps it in the group's main
// cache, within the group's cacheBytes, as any value this pod loads.
type pushedEntry struct {
	group, key string
	value      []byte
	stored     atomic.Bool // set by the getter that returns value to be cached
}

// pushesStoring is how many Push calls of this process are inside getPushed: the only
// calls whose context carries a pushed entry. While it is zero no getter or peer client is
// given such a context, and pushedValue answers without looking into the context it is
// given, which every load through a group made by NewGroup asks it.
var pushesStoring atomic.Int64

// getPushed is group.Get of key with ctx, which carries the pushed entry of key, counted in
// pushesStoring while it runs (groupcache calls the getter and the peer client of the load
// in it, with ctx).
func getPushed(ctx context.Context, group *groupcache.Group, key string, dest groupcache.Sink) error {
	pushesStoring.Add(1)
	defer pushesStoring.Add(-1)
	return group.Get(ctx, key, dest)
}

// pushedFor returns the entry pushed for key of group that ctx carries, or nil. Only a
// context given to getPushed, or derived from one, carries an entry: while no push is being
// stored, pushedFor answers without looking into ctx. It is small enough to be inlined, so
// that a load pays one atomic load for it.
func pushedFor(ctx context.Context, group, key string) *pushedEntry {
	if pushesStoring.Load() == 0 {
		return nil
	}
	return pushedIn(ctx, group, key)
}

// pushedIn returns the entry pushed for key of group that ctx carries, or nil.
func pushedIn(ctx context.Context, group, key string) *pushedEntry {
	e, _ := ctx.Value(pushedKey{}).(*pushedEntry)
	if e == nil || e.group != group || e.key != key {
		return nil
	}
	return e
}

// pushedValue returns the value pushed for key of group that ctx carries.
func pushedValue(ctx context.Context, group, key string) ([]byte, bool) {
	if e := pushedFor(ctx, group, key); e != nil {
		return e.value, true
	}
	return nil, false
}

// storePushedValue is pushedValue for the getter of the group, which returns the value to
// groupcache to keep in the group's main cache: the push counts as stored.
func storePushedValue(ctx context.Context, group, key string) ([]byte, bool) {
	e := pushedFor(ctx, group, key)
	if e == nil {
		return nil, false
	}
	e.stored.Store(true)
	return e.value, true
}

// fromPeer reports whether the call in ctx came from the address of a member or a
// leaving peer of v other than self ("ip:port"): another container of this pod shares
// its address and is no peer.
func fromPeer(ctx context.Context, v view, self string) bool {
	_, ok := senderPeer(ctx, v, self)
	return ok
}

// senderPeer returns the id of the member or leaving peer of v, other than self, whose
// address the call in ctx came from (pods dial their peers from their own IP), and
// whether there is one.
func senderPeer(ctx context.Context, v view, self string) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "", false
	}
	host, _, err := net.SplitHostPort(p.Addr.String())
	if err != nil {
		return "", false
	}
	from, err := netip.ParseAddr(host)
	if err != nil {
		return "", false
	}
	from = from.Unmap()
	isFrom := func(id string) bool {
		ap, err := netip.ParseAddrPort(id)
		return err == nil && ap.Addr().Unmap() == from
	}
	if isFrom(self) {
		return "", false
	}
	for _, ids := range [][]string{v.members, v.leaving} {
		if i := slices.IndexFunc(ids, isFrom); i >= 0 {
			return ids[i], true
		}
	}
	return "", false
}

// storingPushes holds the keys whose pushed entries this pod stores right now though its
// ring routes them to a peer that is leaving by the sender's word (the leaving sender, or
// an owner the sender pushed the entry past): PickPeer answers them locally meanwhile,
// so that groupcache keeps each entry in its group's main cache. A load of the same key
// at that moment joins the push's (groupcache loads a key once at a time) and gets the
// pushed value. Each push replaces the set with a new one, and PickPeer's check takes no
// lock: one atomic load while nothing is stored, and a lookup in the set while anything is.
type storingPushes struct {
	mu   sync.Mutex                     // held by the pushes that replace keys
	keys atomic.Pointer[map[string]int] // key → pushes storing it; never edited; nil when empty
}

func (s *storingPushes) add(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := map[string]int{}
	if old := s.keys.Load(); old != nil {
		keys = maps.Clone(*old)
	}
	keys[key]++
	s.keys.Store(&keys)
}

func (s *storingPushes) done(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.keys.Load()
	if old == nil {
		return
	}
	keys := maps.Clone(*old)
	if keys[key]--; keys[key] <= 0 {
		delete(keys, key)
	}
	if len(keys) == 0 {
		s.keys.Store(nil)
		return
	}
	s.keys.Store(&keys)
}

// has reports whether an entry of key is being stored.
func (s *storingPushes) has(key string) bool {
	keys := s.keys.Load()
	return keys != nil && (*keys)[key] > 0
}

// Push hands the peer the value of key in group, which the peer stores if it owns the
// key (see getService.Push). A peer that does not know pushes answers
// codes.Unimplemented.
func (p *peerClient) Push(ctx context.Context, group, key string, value []byte) error {
	if p.health.unavailable.Load() {
		return status.Errorf(codes.Unavailable, "groupcache-k8s: peer %s does not answer", p.addr)
	}
	ctx = metadata.AppendToOutgoingContext(ctx, pushGroupMD, group, pushKeyMD, key)
	var out groupcachepb.GetResponse
	return p.channel.invoke(ctx, p.conn, pushMethod, &groupcachepb.GetResponse{Value: value}, &out)
}
