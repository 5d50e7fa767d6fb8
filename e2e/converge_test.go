package e2e

import (
	"testing"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
)

// TestThreePeersLoadEachKeyOnce: three pods converge on the same ring, and 1000 keys asked
// round-robin through all of them are each loaded exactly once in the whole cluster, by
// their owner, with the right value.
func TestThreePeersLoadEachKeyOnce(t *testing.T) {
	app := newApp(t, testbed.AppOptions{})
	pods := startPods(t, app, 0, 3)
	waitRings(t, pods, pods)

	keys := testbed.Keys("key-", 1000)
	first := getAll(t, pods, keys)
	byAddr := map[string]string{}
	for _, p := range pods {
		byAddr[p.GroupcacheAddr()] = p.Name
	}
	for key, r := range first {
		if byAddr[r.Owner] != r.LoadedBy {
			t.Fatalf("key %s loaded by %s, but its owner is %s (%s)", key, r.LoadedBy, r.Owner, byAddr[r.Owner])
		}
	}
	var loads int64
	for _, p := range pods {
		s := stats(t, p)
		loads += s.Group.LocalLoads
		if s.Group.LocalLoads < 200 {
			t.Errorf("pod %s loaded %d of 1000 keys; want a fair share", p.Name, s.Group.LocalLoads)
		}
	}
	if loads != int64(len(keys)) {
		t.Fatalf("the cluster loaded %d times for %d keys; want each key loaded once", loads, len(keys))
	}
	// The same keys again, each through a different pod than before: no new load anywhere.
	getAll(t, append(pods[1:], pods[0]), keys)
	loads = 0
	for _, p := range pods {
		loads += stats(t, p).Group.LocalLoads
	}
	if loads != int64(len(keys)) {
		t.Errorf("after asking every key again the cluster loaded %d times; want still %d", loads, len(keys))
	}
}
