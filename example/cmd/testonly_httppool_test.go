package main

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/golang/groupcache"
)

// TestPoolURLs: the pool's peers are the pods' HTTP addresses as base URLs, in order.
func TestPoolURLs(t *testing.T) {
	got := poolURLs([]string{"192.0.2.10:8080", "192.0.2.11:8080"})
	if want := []string{"http://192.0.2.10:8080", "http://192.0.2.11:8080"}; !slices.Equal(got, want) {
		t.Errorf("poolURLs = %v, want %v", got, want)
	}
	if got := poolURLs(nil); len(got) != 0 {
		t.Errorf("poolURLs(nil) = %v, want none", got)
	}
}

// TestPoolNodeGroup: an HTTPPool node's group is groupcache's own, registered under its
// name, and loads through the getter; the node names no owner.
func TestPoolNodeGroup(t *testing.T) {
	var n node = poolNode{}
	loads := 0
	name := "testonly-pool-node-" + strconv.FormatInt(time.Now().UnixNano(), 36) // groups live as long as the process
	g := n.NewGroup(name, 1<<20, groupcache.GetterFunc(func(_ context.Context, key string, dest groupcache.Sink) error {
		loads++
		return dest.SetString("value of " + key)
	}))
	if groupcache.GetGroup(name) != g {
		t.Fatal("the pool node's group is not registered with groupcache under its name")
	}
	var v string
	if err := g.Get(t.Context(), "k", groupcache.StringSink(&v)); err != nil || v != "value of k" || loads != 1 {
		t.Errorf("Get(k) = %q, %v after %d loads; want the getter's value after one", v, err, loads)
	}
	if owner := n.Owner("k"); owner != "" {
		t.Errorf("Owner(k) = %q; want \"\", the pool cannot tell", owner)
	}
}
