package k8s

// Tests of the owner's errors: a group made by NewGroup returns the error of the key's
// owner's getter without loading the key again; unmarked errors and transport failures
// still load locally.

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	"google.golang.org/grpc/status"
)

// ownerServer is a peer whose answers depend on the key's prefix: "missing" fails in
// the owner's getter, as this library's server reports it; "fork" fails the same way
// without the mark, as the gRPC forks of groupcache do; anything else has a value.
type ownerServer struct{}

func (ownerServer) Get(_ context.Context, in *groupcachepb.GetRequest) (*groupcachepb.GetResponse, error) {
	switch key := in.GetKey(); {
	case strings.HasPrefix(key, "missing"):
		return nil, statusError(errors.New("no such record"))
	case strings.HasPrefix(key, "fork"):
		return nil, status.Error(codes.Unknown, "no such record")
	default:
		return &groupcachepb.GetResponse{Value: []byte("owner's " + key)}, nil
	}
}

func (ownerServer) Peek(context.Context, *groupcachepb.GetRequest) (*groupcachepb.GetResponse, error) {
	return nil, errNotCached
}

func (ownerServer) Ping(context.Context, *groupcachepb.GetRequest) (*groupcachepb.GetResponse, error) {
	return &groupcachepb.GetResponse{}, nil
}

func (ownerServer) Push(context.Context, *groupcachepb.GetResponse) (*groupcachepb.GetResponse, error) {
	return &groupcachepb.GetResponse{}, nil
}

// TestOwnerErrorIsReturnedWithoutASecondLoad: for a key whose owner's getter failed, the
// caller's group returns that error, with the owner's code and message, and its own
// getter is not called. An unmarked error loads the key here; so does an unreachable owner
// whose next owner is this pod (one whose next owner is a peer sends the Get there).
func TestOwnerErrorIsReturnedWithoutASecondLoad(t *testing.T) {
	port := freePort(t)
	self, owner, gone := "127.0.0.1", "127.0.0.2", "127.0.0.3"
	srv := grpc.NewServer()
	srv.RegisterService(&groupCacheServiceDesc, ownerServer{})
	lis, err := net.Listen("tcp", net.JoinHostPort(owner, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	m, _ := startManager(t, fakeapi.Listing(10, readySlice("cache-x1", self, owner, gone)),
		net.JoinHostPort(self, strconv.Itoa(port)))
	if err := registerPicker(m); err != nil { // groups route through the manager
		t.Fatal(err)
	}
	t.Cleanup(func() { unregisterPicker(m) })

	var loads atomic.Int64
	name := fmt.Sprintf("%s#%d", t.Name(), groupSeq.Add(1))
	group := m.NewGroup(name, 1<<20, groupcache.GetterFunc(func(_ context.Context, key string, dest groupcache.Sink) error {
		loads.Add(1)
		return dest.SetString("local " + key)
	}))
	rg := m.router.snapshot().ring
	pastGone := ringWithout(rg.members(), net.JoinHostPort(gone, strconv.Itoa(port)))
	// keyOf returns a key with prefix owned by ownerIP and, if nextIP is not "", owned by
	// nextIP in the ring without the unreachable peer.
	keyOf := func(prefix, ownerIP, nextIP string) string {
		for i := range 10000 {
			key := prefix + strconv.Itoa(i)
			if strings.HasPrefix(m.Owner(key), ownerIP+":") &&
				(nextIP == "" || strings.HasPrefix(pastGone.members()[pastGone.owner(key)], nextIP+":")) {
				return key
			}
		}
		t.Fatalf("no key %s* owned by %s, then %q", prefix, ownerIP, nextIP)
		return ""
	}
	tests := []struct {
		name        string
		key         string
		wantFrom    string // the value's prefix, "owner's " or "local ", when there is no error
		wantErr     string // part of the error
		wantCode    codes.Code
		wantLoads   int64 // calls of this pod's getter
		wantReturns int64 // change of Stats.OwnerErrors
	}{
		{"the owner's getter failed", keyOf("missing", owner, ""), "", "no such record", codes.Unknown, 0, 1},
		{"the owner has the value", keyOf("present", owner, ""), "owner's ", "", codes.OK, 0, 0},
		{"an unmarked error (a gRPC fork)", keyOf("fork", owner, ""), "local ", "", codes.OK, 1, 0},
		{"the owner refuses: the Get goes on to the next owner, which answers", keyOf("present", gone, owner), "owner's ", "", codes.OK, 0, 0},
		{"the owner is marked unreachable: the next owner's getter failed", keyOf("missing", gone, owner), "", "no such record", codes.Unknown, 0, 1},
		{"the owner is marked unreachable, and this pod owns the key next", keyOf("missing", gone, self), "local ", "", codes.OK, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loads.Store(0)
			before := m.Stats().OwnerErrors
			var v string
			err := group.Get(t.Context(), tt.key, groupcache.StringSink(&v))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || status.Code(err) != tt.wantCode {
					t.Errorf("Get(%q) = %q, %v; want a %v error with %q", tt.key, v, err, tt.wantCode, tt.wantErr)
				}
			} else if err != nil || v != tt.wantFrom+tt.key {
				t.Errorf("Get(%q) = %q, %v; want %q", tt.key, v, err, tt.wantFrom+tt.key)
			}
			assertCount(t, "loads here", loads.Load(), tt.wantLoads)
			assertCount(t, "Stats.OwnerErrors", m.Stats().OwnerErrors-before, tt.wantReturns)
		})
	}
	if n := pendingOwnerErrors.n.Load(); n != 0 {
		t.Errorf("%d owner's errors left waiting", n)
	}
}

// TestPendingOwnerErrors: an owner's error waits for its group's getter only if the
// group was made by NewGroup, only for ownerErrorTTL (one not taken, from a user's own
// call of a peer client, must not answer a later load of the key), and a full table
// drops the expired ones before it refuses.
func TestPendingOwnerErrors(t *testing.T) {
	ours := fmt.Sprintf("%s#%d", t.Name(), groupSeq.Add(1))
	newGroupNames.Store(ours, true)
	t.Cleanup(func() { newGroupNames.Delete(ours) })
	errOwner := errors.New("no such record")
	type step struct {
		advance  time.Duration // of the clock, before the step
		put      int           // keys k0…k(put-1) to put (n0… if fresh), of group ours unless group is set
		fresh    bool
		group    string
		wantPut  bool // put reports it kept the last of them
		take     string
		wantTake error
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"taken in the same load", []step{{put: 1, wantPut: true, take: "k0", wantTake: errOwner}, {take: "k0"}}},
		{"taken just within the TTL", []step{{put: 1, wantPut: true}, {advance: ownerErrorTTL, take: "k0", wantTake: errOwner}}},
		{"expired, not taken", []step{{put: 1, wantPut: true}, {advance: ownerErrorTTL + time.Millisecond, take: "k0"}}},
		{"a group not made by NewGroup", []step{{put: 1, group: "someone else's", take: "k0"}}},
		{"full", []step{{put: maxPendingOwnerErrors, wantPut: true}, {put: 1, fresh: true}}},
		{"full of expired errors", []step{{put: maxPendingOwnerErrors, wantPut: true},
			{advance: ownerErrorTTL + time.Millisecond, put: 1, fresh: true, wantPut: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Unix(1000, 0)
			o := ownerErrors{now: func() time.Time { return now }}
			for i, st := range tt.steps {
				now = now.Add(st.advance)
				group := ours
				if st.group != "" {
					group = st.group
				}
				if st.put > 0 {
					var kept bool
					prefix := "k"
					if st.fresh {
						prefix = "n"
					}
					for k := range st.put {
						kept = o.put(group, fmt.Sprint(prefix, k), errOwner)
					}
					if kept != st.wantPut {
						t.Errorf("step %d: put kept the last error: %v, want %v", i, kept, st.wantPut)
					}
				}
				if st.take != "" {
					if got := o.take(group, st.take); got != st.wantTake {
						t.Errorf("step %d: take(%q) = %v, want %v", i, st.take, got, st.wantTake)
					}
				}
			}
		})
	}
}

// TestGetterContextErrors: the owner's group made by NewGroup tells a context error of
// its getter's own (its backend call's deadline, while the load's context is live),
// which the server marks as the owner's error, from the end of the load's context, which
// it does not mark.
func TestGetterContextErrors(t *testing.T) {
	m, _ := startManager(t, fakeapi.Listing(10, readySlice("cache-x1", "10.0.0.1")), "10.0.0.1:8080")
	group := m.NewGroup(fmt.Sprintf("%s#%d", t.Name(), groupSeq.Add(1)), 1<<20,
		groupcache.GetterFunc(func(ctx context.Context, key string, _ groupcache.Sink) error {
			if key == "own deadline" {
				return fmt.Errorf("querying the backend: %w", context.DeadlineExceeded)
			}
			<-ctx.Done()
			return ctx.Err()
		}))
	ended, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	tests := []struct {
		name      string
		ctx       context.Context
		key       string
		wantCode  codes.Code
		wantOwner bool
	}{
		{"the backend call's own deadline", t.Context(), "own deadline", codes.DeadlineExceeded, true},
		{"the load's context ended", ended, "waits", codes.DeadlineExceeded, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v string
			err := group.Get(tt.ctx, tt.key, groupcache.StringSink(&v))
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Get = %v, want a context error", err)
			}
			st := statusError(err)
			if status.Code(st) != tt.wantCode || isOwnerError(st) != tt.wantOwner {
				t.Errorf("the server answers %v (owner's error: %v); want %v, owner's error %v",
					st, isOwnerError(st), tt.wantCode, tt.wantOwner)
			}
		})
	}
}
