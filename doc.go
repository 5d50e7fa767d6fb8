// Package k8s runs github.com/golang/groupcache on Kubernetes: it finds a cache's
// peers from the EndpointSlices of a Service, routes every key to its owner with a
// consistent-hash table, and carries peer requests over gRPC.
//
//	m, err := k8s.NewPeersManager(context.Background(), clientset, "cache", namespace, 8081,
//		fmt.Sprintf("%s:%d", os.Getenv("POD_IP"), 8081))
//	if err != nil { ... }
//	defer m.Close()
//	group := m.NewGroup("thumbnails", 64<<20, getter) // routed through m, warm across changes
//	...
//	<-sigterm                    // after the preStop sleep
//	m.Shutdown(shutdownCtx)      // hand the keys over, then stop, within the grace period
//
// # Discovery
//
// The manager LISTs the discovery.k8s.io/v1 EndpointSlices labelled
// kubernetes.io/service-name=<service> and WATCHes them from the list's
// resourceVersion, with bookmarks. It needs list and watch on endpointslices in the
// namespace, nothing else. A watch that ends normally resumes from the last
// resourceVersion; a 410 (the version was compacted away) causes a fresh LIST, which
// also applies deletes missed while disconnected. While connections to the API server
// are lost (refused, reset, cut off mid-frame), the loop retries every 1–2 s (at most one
// request a second per pod), so it resumes within about 2 s of the server's return; for
// 10 s after that, a 401 or 403 (a restarted server's RBAC caches are still filling) is
// retried the same way. Failures the
// server answers (429, 5xx, timeouts) back off exponentially with jitter (0.8 s doubling
// to 30 s, each delay in [d, 2d)), honouring a 429's Retry-After up to that 30 s cap; a
// watch silent for longer than the idle timeout (WithWatchIdleTimeout, 90 s by
// default) is restarted. No client-go informer is used. Only what the peer set needs of
// each slice is decoded and kept. The watch is a layer of its own, PeerWatcher: it
// turns the slices into sorted peer ids and decides when they changed. PeersManager is
// built on it and turns the ids into a ring and clients; WatchPeers hands them to a
// function instead, for another transport (options of the manager's transport and ring are an error there).
//
// # Readiness and self
//
// An endpoint is a peer when its serving condition is true (unset: its ready condition;
// both unset: true) and it is not terminating, in any of the Service's slices: serving
// follows the pod's readiness also with publishNotReadyAddresses, where ready is true for
// every pod. An endpoint that is terminating but still serving is a leaving peer: out of
// the ring, but still asked by the hand-off; only slices of this pod's address
// family count, so a dual-stack pod is one peer; if the Service has slices but none
// of this pod's family, the manager logs a warning once. Peer ids are "ip:port", IPv6
// bracketed and canonical, so every pod computes byte-identical ids and the same ring.
// This pod is always a member of its own ring, even before it is ready, so it never
// forwards keys it would own; when its own endpoint turns terminating it leaves its
// ring and forwards everything to the pods that stay.
//
// # Outages
//
// NewPeersManager returns once the first LIST succeeded. It fails at once on bad
// arguments, 401 and 403 (naming the missing RBAC rule), and after the startup timeout
// when the API server cannot be reached. After that, while the API server is
// unreachable or forbids access, the last known peers stay in force. Stats reports the
// last successful sync.
//
// # Routing
//
// Every change of the peer set builds a new immutable routing table and publishes it
// atomically; PickPeer takes no lock and allocates nothing. All peers share one gRPC
// ClientConn, each a subchannel of it: a peer's connection is opened by the first call
// to it, closed by the peer's server after 2 minutes without calls (WithServerOptions),
// and closed 10 s after the peer leaves, for the calls already in flight.
//
// # Loops
//
// Two pods may briefly disagree about a key's owner while a change propagates, each
// naming the other, and both may be asked for the key at once. A manager never lets a
// peer's request wait on a forward of the same group and key: its server refuses at
// once (codes.Aborted) a request for a key its clients are forwarding, and its clients
// do not forward a key its server is loading for a peer. The key is loaded locally
// instead, so no cycle of pods can wait on each other. Every peer call is bounded by
// WithCallTimeout (5 s), whatever the caller's deadline; a Get to a peer that refuses
// connections or is marked unavailable goes on to the key's next owner within that time,
// and any other peer error makes groupcache load the key locally.
//
// # Membership changes: the warm hand-off
//
// Groups created with PeersManager.NewGroup keep their cache through scale-ups,
// scale-downs and rolling updates. When a pod loads a key it owns whose owner changed
// within the window (Handoff.Window, 60 s), it first peeks the key's previous owner:
// the owner under the rings it used within the window or, for a pod that joined within
// the window, under the ring without itself. Only a ring member or a leaving peer still
// in the slices is asked, once, within the peek timeout (Handoff.PeekTimeout, 50 ms), over
// /groupcachepb.GroupCache/Peek, which a peer answers only from its main and hot caches,
// never loading, forwarding or waiting; an older peer answers Unimplemented, a miss. On a
// hit the value is cached as if loaded; otherwise the getter runs. A closing manager
// drains: it keeps serving until the slices no longer show it ready and no peer has
// asked anything for a second, at most Handoff.Drain (15 s). Give pods a preStop sleep
// and a terminationGracePeriodSeconds that covers it, the drain and 5 s (see the README).
// Values are immutable per key: a peeked value is the previous owner's copy, so put a
// version in keys whose meaning changes between releases. WithHandoff(Handoff{Off: true})
// turns it off.
//
// # Transport and TLS
//
// Peers call /groupcachepb.GroupCache/Get with groupcache's own groupcachepb
// messages, as the gRPC forks of groupcache do (their proto3 code needs keys that are
// valid UTF-8, and their clients receive at most 4 MiB unless raised on their side; a
// missing key is read as the empty key). Traffic is insecure unless
// WithTransportCredentials gives credentials for both sides: for TLS,
// credentials.NewTLS of a server and a client tls.Config (mutual TLS with a ClientAuth
// server config and a client certificate). Pods are dialled by IP, so set the client's
// ServerName to a name in the peers' certificates, or give the certificates the pods'
// IPs. Messages up to 128 MiB pass by
// default (WithMaxMessageSize). Values go out without a copy and are read with one;
// flow-control windows are fixed (4 MiB per call, 16 MiB per connection).
//
// # Registration
//
// groupcache allows one peer picker per process, registered once. The manager
// registers itself unless WithoutPeerPickerRegistration is given; a second manager in
// the same process gets ErrAlreadyRegistered while the first is open. With
// WithGRPCServer, create the first manager on a server before its Serve (grpc allows
// registrations only then); later managers on the same server reuse the registration,
// one open manager at a time.
package k8s
