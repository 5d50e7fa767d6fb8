package k8s

// The owner's errors: when the owner of a key answers that its getter failed (the
// backend timed out, or has no such record), a group made with NewGroup returns that
// error to its caller instead of calling its own getter for the same key, so that a
// failing backend is not asked twice for every key.

import (
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// ownerErrorMark is the detail a server adds to the status of a Get whose load failed in
// its getter. Peers that do not add it (older versions, the gRPC forks of groupcache)
// leave their errors unmarked, and their callers load the key locally, as groupcache
// does after any error.
const ownerErrorMark = "groupcache-k8s.owner-error"

// ownerErrorStatus is the status a server answers with when the load of a key failed
// with err, which is not a context error: err's status, if it is a gRPC status error (a
// getter that calls gRPC itself), or codes.Unknown with err's message, marked as the
// owner's error.
func ownerErrorStatus(err error) error {
	st, _ := status.FromError(err) // codes.Unknown and err's message if err is not a status
	if marked, derr := st.WithDetails(&wrapperspb.StringValue{Value: ownerErrorMark}); derr == nil {
		return marked.Err()
	}
	return st.Err()
}

// isOwnerError reports whether err, from a peer's Get, is the owner's getter's error.
func isOwnerError(err error) bool {
	st, ok := status.FromError(err)
	if !ok || st.Code() == codes.OK {
		return false
	}
	for _, d := range st.Details() {
		if v, ok := d.(*wrapperspb.StringValue); ok && v.GetValue() == ownerErrorMark {
			return true
		}
	}
	return false
}

// maxPendingOwnerErrors bounds the owner's errors waiting for their group's getter. Each
// is taken by the getter in the same load that got it, so few wait at once; past the
// bound the key is loaded locally, as without the mark.
const maxPendingOwnerErrors = 1024

// ownerErrorTTL is how long an owner's error waits for its group's getter. The getter
// takes it microseconds after the peer client kept it, in the same load; one not taken
// (the client was called outside groupcache's loads, by a user's own PickPeer call) is
// dropped after it, so that a later load of the key does not return an old error.
const ownerErrorTTL = 100 * time.Millisecond

// ownerErrors hands the owner's error from the peer client that got it to the getter of
// the group made by NewGroup, which groupcache calls next, in the same load: groupcache
// loads a key locally after any error from its owner, and runs one load of a key at a
// time in each group.
type ownerErrors struct {
	n   atomic.Int64 // len(m), read without the lock by loads that have no error waiting
	now func() time.Time

	mu sync.Mutex
	m  map[groupKey]pendingError
}

// groupKey is a key of a group.
type groupKey struct{ group, key string }

// pendingError is an owner's error and when it was kept.
type pendingError struct {
	err error
	at  time.Time
}

// pendingOwnerErrors are the owner's errors of this process's groups.
var pendingOwnerErrors = ownerErrors{now: time.Now}

// put keeps err for the load of key in group, and reports whether it did: only for a
// group made by NewGroup, whose getter takes it, and while fewer than
// maxPendingOwnerErrors are waiting (older ones than ownerErrorTTL are dropped first).
func (o *ownerErrors) put(group, key string, err error) bool {
	if _, ours := newGroupNames.Load(group); !ours {
		return false
	}
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = make(map[groupKey]pendingError)
	}
	if len(o.m) >= maxPendingOwnerErrors {
		for k, e := range o.m {
			if now.Sub(e.at) > ownerErrorTTL {
				delete(o.m, k)
			}
		}
		if len(o.m) >= maxPendingOwnerErrors {
			return false
		}
	}
	o.m[groupKey{group, key}] = pendingError{err: err, at: now}
	o.n.Store(int64(len(o.m)))
	return true
}

// take returns and forgets the owner's error kept for the load of key in group within
// ownerErrorTTL, or nil. Small enough to be inlined: a load with no error waiting pays
// one atomic load.
func (o *ownerErrors) take(group, key string) error {
	if o.n.Load() == 0 {
		return nil
	}
	return o.takeWaiting(group, key)
}

// takeWaiting is take once some error waits.
func (o *ownerErrors) takeWaiting(group, key string) error {
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	k := groupKey{group, key}
	e, ok := o.m[k]
	if !ok {
		return nil
	}
	delete(o.m, k)
	o.n.Store(int64(len(o.m)))
	if now.Sub(e.at) > ownerErrorTTL {
		return nil
	}
	return e.err
}
