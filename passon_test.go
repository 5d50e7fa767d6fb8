package k8s

import (
	"testing"
	"time"

	"github.com/golang/groupcache/groupcachepb"
	"github.com/groupcache-k8s/k8s/internal/leakcheck"
)

// TestPassedOnGetStaysWithinTheCallTimeout: a Get whose key's owners in a row stop
// answering (a frozen node hosting several of the pods) is passed on past each one as it
// is marked, but the whole Get is bounded by one call timeout, as every peer call is: each
// hop does not start a call timeout of its own.
func TestPassedOnGetStaysWithinTheCallTimeout(t *testing.T) {
	leakcheck.Check(t)
	const callTimeout = 2 * time.Second
	var ids []string
	var proxies []*netProxy
	for range maxPassOns + 2 {
		srv := startTestServer(t, "")
		p := startProxy(t, srv.addr())
		proxies = append(proxies, p)
		ids = append(ids, p.addr())
	}
	cfg := testConfig(WithCallTimeout(callTimeout))
	r := newRouter("s:1", cfg, &counters{}, &loopGuard{}, newTestChannel(t, cfg))
	t.Cleanup(func() { r.stop(); r.closeClients() })
	r.apply(view{members: ids, selfReady: true}) // this pod is no member: every key has a peer for owner
	group := newTestGroup(t, echoGetter)
	owner, _ := r.snapshot().pick("k")
	var out groupcachepb.GetResponse
	if err := owner.Get(t.Context(), getRequest(group.Name(), "k"), &out); err != nil {
		t.Fatalf("Get before the freeze: %v", err)
	}
	for _, p := range proxies {
		p.freeze()
	}
	defer func() {
		for _, p := range proxies {
			p.thaw()
		}
	}()
	start := time.Now()
	err := owner.Get(t.Context(), getRequest(group.Name(), "k"), &out)
	if d := time.Since(start); d > callTimeout+time.Second/2 {
		t.Errorf("Get past frozen owners: %v after %v; want an end within the call timeout, %v", err, d, callTimeout)
	}
}
