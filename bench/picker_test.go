package bench

// Part 1 of the comparison: picking a peer. Our PickPeer, called on a real
// k8s.PeersManager that learnt its peers from a (fake) API server, against
// groupcache/consistenthash as HTTPPool uses it (crc32, 50 replicas) and against
// HTTPPool.PickPeer itself (the same ring behind a mutex), at 3, 10, 100 and 1000 peers,
// on one goroutine and under RunParallel. BenchmarkRebuild times a membership change:
// ours from the watch event that changes one EndpointSlice to the new ring being in
// force, theirs as the call that rebuilds the ring.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/consistenthash"
)

// httpPool is this process's one HTTPPool: groupcache allows a single NewHTTPPoolOpts
// (and a single peer picker registration) per process. Its self is pickerSelf; each
// benchmark sets the peers it needs.
var httpPool = sync.OnceValue(func() *groupcache.HTTPPool {
	return groupcache.NewHTTPPoolOpts(peerURLs([]string{pickerSelf})[0], nil)
})

var sink atomic.Int64 // keeps results alive; atomic because RunParallel writes it

// pickers returns, for each size, a manager and the ring of each comparison library over
// the same peers, and stops the managers when b ends.
func pickerSetups(b *testing.B) map[int]*pickerManager {
	managers := make(map[int]*pickerManager)
	b.Cleanup(func() {
		for _, m := range managers {
			m.Close()
		}
	})
	for _, n := range pickerSizes {
		m, err := newPickerManager(peerIPs(n))
		if err != nil {
			b.Fatal(err)
		}
		managers[n] = m
	}
	return managers
}

func BenchmarkPickPeer(b *testing.B) {
	keys := testKeys(1 << 16)
	managers := pickerSetups(b)
	for _, n := range pickerSizes {
		b.Run(fmt.Sprintf("N=%d/impl=ours", n), func(b *testing.B) {
			m := managers[n]
			b.ReportAllocs()
			hits, i := 0, 0
			for b.Loop() {
				if _, ok := m.PickPeer(keys[i&(len(keys)-1)]); ok {
					hits++
				}
				i++
			}
			sink.Add(int64(hits))
		})
		b.Run(fmt.Sprintf("N=%d/impl=consistenthash", n), func(b *testing.B) {
			ring := consistenthash.New(50, nil)
			ring.Add(peerIDs(peerIPs(n))...)
			b.ReportAllocs()
			total, i := 0, 0
			for b.Loop() {
				total += len(ring.Get(keys[i&(len(keys)-1)]))
				i++
			}
			sink.Add(int64(total))
		})
		b.Run(fmt.Sprintf("N=%d/impl=httppool", n), func(b *testing.B) {
			pool := httpPool()
			pool.Set(peerURLs(peerIPs(n))...)
			b.ReportAllocs()
			hits, i := 0, 0
			for b.Loop() {
				if _, ok := pool.PickPeer(keys[i&(len(keys)-1)]); ok {
					hits++
				}
				i++
			}
			sink.Add(int64(hits))
		})
	}
}

// BenchmarkPickPeerParallel is BenchmarkPickPeer from GOMAXPROCS goroutines at once.
// consistenthash runs without a lock (its Map is read-only here); HTTPPool takes its
// mutex on every call, as it does in production.
func BenchmarkPickPeerParallel(b *testing.B) {
	keys := testKeys(1 << 16)
	managers := pickerSetups(b)
	for _, n := range pickerSizes {
		b.Run(fmt.Sprintf("N=%d/impl=ours", n), func(b *testing.B) {
			m := managers[n]
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				hits, i := 0, 0
				for pb.Next() {
					if _, ok := m.PickPeer(keys[i&(len(keys)-1)]); ok {
						hits++
					}
					i++
				}
				sink.Add(int64(hits))
			})
		})
		b.Run(fmt.Sprintf("N=%d/impl=consistenthash", n), func(b *testing.B) {
			ring := consistenthash.New(50, nil)
			ring.Add(peerIDs(peerIPs(n))...)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				total, i := 0, 0
				for pb.Next() {
					total += len(ring.Get(keys[i&(len(keys)-1)]))
					i++
				}
				sink.Add(int64(total))
			})
		})
		b.Run(fmt.Sprintf("N=%d/impl=httppool", n), func(b *testing.B) {
			pool := httpPool()
			pool.Set(peerURLs(peerIPs(n))...)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				hits, i := 0, 0
				for pb.Next() {
					if _, ok := pool.PickPeer(keys[i&(len(keys)-1)]); ok {
						hits++
					}
					i++
				}
				sink.Add(int64(hits))
			})
		})
	}
}

// BenchmarkRebuild times one membership change: a peer leaves, or comes back, on
// alternate iterations.
//
// impl=ours is the whole path inside a pod: the fake API server sends a MODIFIED event
// for the EndpointSlice (100 endpoints, as the EndpointSlice controller packs them) that
// lost or regained the peer; the manager decodes it, recomputes the peer set from every
// slice, builds the new routing table, reuses the peers' gRPC clients and swaps the new
// ring in. The time ends when Stats().RingRebuilds has moved, so it includes the
// loopback round trip and the wake-up of the watch goroutine; allocations include the
// JSON decoding of the slice (and the few of the fake server). The root's
// BenchmarkRebuild times the table alone (newRing); the report shows both.
//
// impl=consistenthash is consistenthash.New(50, nil).Add(peers...), what HTTPPool.Set
// runs; impl=httppool is HTTPPool.Set itself (which also makes one getter per peer).
func BenchmarkRebuild(b *testing.B) {
	for _, n := range pickerSizes {
		ips := peerIPs(n)
		b.Run(fmt.Sprintf("N=%d/impl=ours", n), func(b *testing.B) {
			m, err := newPickerManager(ips)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			// ips[1] is in slice 0 with the first endpointsPerSlice ips; it is not self.
			first := ips[:min(endpointsPerSlice, len(ips))]
			without := slices.Delete(slices.Clone(first), 1, 2)
			frames := make([]string, 2)
			for i, slice := range [][]string{without, first} {
				frames[i] = modifiedFrame(0, slice, 10+i)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := m.change(ctx, frames[i%2]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(fmt.Sprintf("N=%d/impl=consistenthash", n), func(b *testing.B) {
			ids := peerIDs(ips)
			b.ReportAllocs()
			for b.Loop() {
				consistenthash.New(50, nil).Add(ids...)
			}
		})
		b.Run(fmt.Sprintf("N=%d/impl=httppool", n), func(b *testing.B) {
			urls := peerURLs(ips)
			pool := httpPool()
			b.ReportAllocs()
			for b.Loop() {
				pool.Set(urls...)
			}
		})
	}
}
