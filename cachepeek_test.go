package k8s

// Tests of the cache peek: it reads what groupcache holds, without loading.

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/golang/groupcache"
)

// TestCachedValueReadsGroupcachesCaches: the layout of groupcache's Group is the one
// cachepeek.go reads; a cached key is found, a missing one is not and is not loaded,
// and the cache's statistics do not count the peek.
func TestCachedValueReadsGroupcachesCaches(t *testing.T) {
	if groupCacheLayout() == nil {
		t.Fatal("groupcache's Group no longer has the layout cachepeek.go reads: peeks would always miss")
	}
	var loads atomic.Int64
	group := groupcache.NewGroup(t.Name(), 1<<20, groupcache.GetterFunc(func(_ context.Context, key string, dest groupcache.Sink) error {
		loads.Add(1)
		return dest.SetString("value of " + key)
	}))
	var v string
	if err := group.Get(t.Context(), "cached", groupcache.StringSink(&v)); err != nil {
		t.Fatal(err)
	}
	statsBefore := group.CacheStats(groupcache.MainCache)
	cases := []struct {
		key    string
		want   string
		wantOK bool
	}{
		{"cached", "value of cached", true},
		{"never asked", "", false},
		{"", "", false},
	}
	for _, tc := range cases {
		got, ok := cachedValue(group, tc.key)
		if ok != tc.wantOK || string(got) != tc.want {
			t.Errorf("cachedValue(%q) = %q, %v; want %q, %v", tc.key, got, ok, tc.want, tc.wantOK)
		}
	}
	if loads.Load() != 1 {
		t.Errorf("the getter ran %d times; a peek must never load", loads.Load())
	}
	if after := group.CacheStats(groupcache.MainCache); after != statsBefore {
		t.Errorf("cache stats changed by peeks: %+v, then %+v", statsBefore, after)
	}
	if _, ok := cachedValue(nil, "cached"); ok {
		t.Error("cachedValue(nil group) found a value")
	}
}
