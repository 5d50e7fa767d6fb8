package k8s

// The cache peek: reading a value from a group's main or hot cache without loading it,
// which is how a pod answers a peek.

import (
	"reflect"
	"sync"
	"unsafe"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/lru"
)

// groupcache keeps a group's caches private and offers only Get, which loads on a miss:
// through singleflight, where a peek could join (and fail, or wait for) a real load,
// then through the peer picker and the getter. A peek must do none of that, so it reads
// the caches directly, as groupcache's own lookupCache does: each is a struct with a
// sync.RWMutex mu and an *lru.Cache lru whose values are ByteViews. The layout is read
// by reflection once; if a groupcache version in go.mod ever changes it, peeks simply
// miss and TestCachedValueReadsGroupcachesCaches fails. golang/groupcache has kept this
// layout since 2013.

// cacheLayout holds the offsets of the fields a peek reads.
type cacheLayout struct {
	caches  [2]uintptr // mainCache and hotCache in groupcache.Group
	mu, lru uintptr    // in groupcache's cache
}

// groupCacheLayout returns the layout of groupcache's caches, or nil if it is not the
// one this file knows.
var groupCacheLayout = sync.OnceValue(func() *cacheLayout {
	group := reflect.TypeFor[groupcache.Group]()
	main, ok1 := group.FieldByName("mainCache")
	hot, ok2 := group.FieldByName("hotCache")
	if !ok1 || !ok2 || main.Type != hot.Type || main.Type.Kind() != reflect.Struct {
		return nil
	}
	mu, ok1 := main.Type.FieldByName("mu")
	l, ok2 := main.Type.FieldByName("lru")
	if !ok1 || !ok2 || mu.Type != reflect.TypeFor[sync.RWMutex]() || l.Type != reflect.TypeFor[*lru.Cache]() {
		return nil
	}
	return &cacheLayout{caches: [2]uintptr{main.Offset, hot.Offset}, mu: mu.Offset, lru: l.Offset}
})

// cachedValue returns a copy of key's value if g holds it in its main or hot cache. It
// never loads, forwards or waits for a load, and leaves the caches' statistics alone
// (a peek is not a Get); like a Get it marks the entry as recently used.
func cachedValue(g *groupcache.Group, key string) ([]byte, bool) {
	layout := groupCacheLayout()
	if layout == nil || g == nil {
		return nil, false
	}
	for _, off := range layout.caches {
		c := unsafe.Add(unsafe.Pointer(g), off)
		mu := (*sync.RWMutex)(unsafe.Add(c, layout.mu))
		cache := (**lru.Cache)(unsafe.Add(c, layout.lru))
		mu.Lock()
		var v any
		ok := false
		if *cache != nil {
			v, ok = (*cache).Get(key)
		}
		mu.Unlock()
		if view, isView := v.(groupcache.ByteView); ok && isView {
			return view.ByteSlice(), true
		}
	}
	return nil, false
}
