package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
)

// TestRBAC: without the manifest's RoleBinding a pod fails at startup, fast, with an error
// that names the missing permission; once the RoleBinding exists, pods running as the same
// ServiceAccount find each other. (Every other test also runs as that ServiceAccount.)
func TestRBAC(t *testing.T) {
	app := newApp(t, testbed.AppOptions{WithoutRoleBinding: true})
	start := time.Now()
	_, err := app.StartPod(t.Context(), "unbound", testbed.PodOptions{})
	took := time.Since(start)
	if err == nil {
		t.Fatal("a pod without the RoleBinding started")
	}
	for _, want := range []string{
		`system:serviceaccount:` + app.Namespace + `:groupcache-example`, // who
		`cannot list resource \"endpointslices\"`,                        // what the API server refused
		"grant list and watch on discovery.k8s.io/endpointslices",        // what the library says to do
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("startup error does not contain %q:\n%v", want, err)
		}
	}
	// The startup timeout is 30 s; a 403 must not wait for it.
	if took > 10*time.Second {
		t.Errorf("the pod took %v to fail on a 403; want a fast failure", took)
	}
	t.Logf("without the RoleBinding the pod exited after %v", took.Round(time.Millisecond))

	if err := app.Bind(t.Context()); err != nil {
		t.Fatal(err)
	}
	pods := startPods(t, app, 0, 2)
	waitRings(t, pods, pods)
	getAll(t, pods, testbed.Keys("rbac-", 100))
}

// TestMutualTLS: pods with certificates from the peers' CA serve each other over mutual TLS;
// a pod whose certificate comes from another CA is refused by them in both directions (they
// reject its client certificate, and its server certificate). Each side marks the other
// unavailable at the first failed handshake: the good pods then send the rogue pod's keys to
// their next owner, the other good pod, and the rogue pod loads every key itself; every
// answer stays right.
func TestMutualTLS(t *testing.T) {
	app := newApp(t, testbed.AppOptions{})
	rogueCA, err := testbed.NewCA(t.TempDir(), "rogue")
	if err != nil {
		t.Fatal(err)
	}
	good := []*testbed.Pod{
		startPod(t, app, "good-0", testbed.PodOptions{CertCA: cluster.PeerCA}),
		startPod(t, app, "good-1", testbed.PodOptions{CertCA: cluster.PeerCA}),
	}
	// The rogue pod trusts the peers' CA, but its own certificate is signed by another one.
	rogue := startPod(t, app, "rogue", testbed.PodOptions{CertCA: rogueCA, TrustCA: cluster.PeerCA})
	all := append(good[:2:2], rogue)
	waitRings(t, all, all) // membership comes from EndpointSlices, not from TLS

	keys := testbed.Keys("tls-", 300)
	name := map[string]string{}
	for _, p := range all {
		name[p.GroupcacheAddr()] = p.Name
	}
	// Through the good pods: keys the other good pod owns are fetched from it over mTLS.
	viaGood := getAll(t, good, keys)
	fetched, routedPast := 0, 0
	for key, r := range viaGood {
		owner := name[r.Owner]
		switch {
		case owner == "rogue" && r.LoadedBy == r.ServedBy: // before the rogue pod was marked, or its next owner
		case owner == "rogue" && r.LoadedBy != "rogue" && r.LoadedBy != "":
			routedPast++ // loaded by the other good pod, its next owner, which served the request
		case owner == "rogue":
			t.Errorf("key %s owned by the rogue pod was loaded by %s, through %s", key, r.LoadedBy, r.ServedBy)
		case owner != "rogue" && r.LoadedBy != owner:
			t.Errorf("key %s owned by %s was loaded by %s; mTLS between good pods failed", key, owner, r.LoadedBy)
		case owner != "rogue" && owner != r.ServedBy:
			fetched++
		}
	}
	if fetched == 0 {
		t.Fatal("no key was fetched from the other good pod; the test proves nothing")
	}
	goodServed := int64(0)
	for _, p := range good {
		goodServed += stats(t, p).Peers.ServerRequests
	}
	if goodServed != int64(fetched+routedPast) {
		t.Errorf("good pods served %d peer requests; want exactly the %d the other good pod made (%d of the rogue pod's keys)",
			goodServed, fetched+routedPast, routedPast)
	}

	// Through the rogue pod: every key another pod owns is refused there and loaded locally.
	viaRogue := getAll(t, []*testbed.Pod{rogue}, testbed.Keys("rogue-", 300))
	refused := 0
	for key, r := range viaRogue {
		if name[r.Owner] == "rogue" {
			continue
		}
		refused++
		if r.LoadedBy != "rogue" {
			t.Errorf("key %s owned by %s was loaded by %s: the rogue pod's certificate was accepted", key, name[r.Owner], r.LoadedBy)
		}
	}
	rs := stats(t, rogue)
	if refused == 0 || rs.Peers.PeerErrors == 0 || rs.Peers.PeersMarkedUnavailable < int64(len(good)) {
		t.Errorf("rogue pod: %d keys owned by others, %d peer errors, %d peers marked; want its calls refused and both good pods marked",
			refused, rs.Peers.PeerErrors, rs.Peers.PeersMarkedUnavailable)
	}
	servedAfter := int64(0)
	for _, p := range good {
		servedAfter += stats(t, p).Peers.ServerRequests
	}
	if servedAfter != goodServed {
		t.Errorf("good pods served %d more requests after the rogue pod's; want none", servedAfter-goodServed)
	}
	t.Logf("mTLS: %d keys fetched between good pods, %d of the rogue pod's keys from its next owner; %d calls from the rogue pod refused",
		fetched, routedPast, refused)
}
