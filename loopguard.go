package k8s

import (
	"context"
	"errors"
)

// Forwarding loops happen when two pods disagree about who owns a key, for example
// while an EndpointSlice change reaches them at different times: A forwards the key to
// B, B forwards it back to A, and A's request joins its own singleflight call, so both
// wait until a deadline breaks the cycle.
//
// The guard: the server puts the (group, key) it is serving into the request's
// context before it calls Group.Get. groupcache hands that context to
// ProtoGetter.Get (the context of the first singleflight caller), and the client
// refuses to forward the same group and key again. groupcache then loads the value
// locally. Other keys are still forwarded, so a getter that calls Group.Get for a
// different key (recursive loads) keeps working.
//
// The guard does not catch a cycle that starts with a local caller whose singleflight
// call a peer's request joins; the per-call timeout (WithCallTimeout) bounds that one.

// errForwardLoop is returned by peerClient.Get instead of forwarding a request that a
// peer sent to this process. groupcache treats it like any peer error and loads the
// value locally.
var errForwardLoop = errors.New("groupcache-k8s: not forwarding a request that came from a peer; " +
	"loading it locally (the peers disagree about who owns the key, usually while membership changes)")

// forwardedKey is the context key of the forwarded marker.
type forwardedKey struct{}

// forwarded identifies the request a peer sent to this process's server.
type forwarded struct {
	group, key string
}

// withForwarded marks ctx as serving a peer's request for group and key.
func withForwarded(ctx context.Context, group, key string) context.Context {
	return context.WithValue(ctx, forwardedKey{}, forwarded{group: group, key: key})
}

// isForwarded reports whether ctx serves a peer's request for exactly group and key.
func isForwarded(ctx context.Context, group, key string) bool {
	f, ok := ctx.Value(forwardedKey{}).(forwarded)
	return ok && f.group == group && f.key == key
}
