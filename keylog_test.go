package k8s

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestKeyLog: keys come back newest first, once each (the empty key is a key; a key added
// again is as new as its last add); a full log forgets its oldest key; keys over the byte
// bound push the oldest out; a key longer than maxLoggedKeyBytes is not logged.
func TestKeyLog(t *testing.T) {
	var l keyLog
	for _, k := range []string{"a", "b", "a", "", "c"} {
		l.add(k)
	}
	if got := l.keys(); !slices.Equal(got, []string{"c", "", "a", "b"}) {
		t.Errorf("keys = %q, want [c \"\" a b]", got)
	}

	var big keyLog
	long := strings.Repeat("x", maxLoggedKeyBytes-4)
	big.add("a")
	for i := range maxLoggedBytes/maxLoggedKeyBytes + 1 {
		big.add(long + strconv.Itoa(1000+i)) // the last one over the bound: "a" and then the first long key go
	}
	big.add(strings.Repeat("y", maxLoggedKeyBytes+1)) // longer than a key may be: not logged
	got := big.keys()
	if n := maxLoggedBytes / maxLoggedKeyBytes; len(got) != n || got[0] != long+strconv.Itoa(1000+n) ||
		big.bytes != n*maxLoggedKeyBytes {
		t.Errorf("a log over its byte bound keeps %d keys (%d bytes), want the newest %d", len(got), big.bytes, n)
	}

	var full keyLog
	for i := range maxLoggedKeys + 2 {
		full.add(strconv.Itoa(i))
	}
	got = full.keys()
	if len(got) != maxLoggedKeys || got[0] != strconv.Itoa(maxLoggedKeys+1) || got[len(got)-1] != "2" {
		t.Errorf("a full log holds %d keys from %s to %s; want %d from %d to 2", len(got), got[0], got[len(got)-1],
			maxLoggedKeys, maxLoggedKeys+1)
	}
	full.add("0") // forgotten, so new again
	if got := full.keys(); got[0] != "0" || got[len(got)-1] != "3" {
		t.Errorf("after re-adding a forgotten key: newest %s, oldest %s; want 0 and 3", got[0], got[len(got)-1])
	}
}

// TestKeyLogFullOnBothBounds: in a log full on both bounds at once (maxLoggedKeys keys of
// 64 bytes), a new key takes the oldest's slot when it is no longer than the oldest, and
// forgets one more key when it is.
func TestKeyLogFullOnBothBounds(t *testing.T) {
	key := func(i int) string { return fmt.Sprintf("%064d", i) }
	tests := []struct {
		name       string
		add        string
		wantKeys   int
		wantOldest string
	}{
		{name: "as long as the oldest", add: strings.Repeat("n", 64), wantKeys: maxLoggedKeys, wantOldest: key(1)},
		{name: "shorter", add: "new", wantKeys: maxLoggedKeys, wantOldest: key(1)},
		{name: "longer", add: strings.Repeat("n", 100), wantKeys: maxLoggedKeys - 1, wantOldest: key(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l keyLog
			for i := range maxLoggedKeys {
				l.add(key(i))
			}
			if l.bytes != maxLoggedBytes {
				t.Fatalf("the log holds %d bytes, want %d: not full on both bounds", l.bytes, maxLoggedBytes)
			}
			l.add(tt.add)
			got := l.keys()
			if len(got) != tt.wantKeys || got[0] != tt.add || got[len(got)-1] != tt.wantOldest {
				t.Errorf("%d keys from %.8s… to %.8s…, want %d from %.8s… to %.8s…", len(got), got[0], got[len(got)-1],
					tt.wantKeys, tt.add, tt.wantOldest)
			}
			wantBytes := (tt.wantKeys-1)*64 + len(tt.add)
			if l.bytes != wantBytes {
				t.Errorf("the log counts %d bytes, want %d", l.bytes, wantBytes)
			}
		})
	}
}

// TestKeyLogLongKeysStayCheap: once long keys fill the byte bound, adding a key costs no
// more than at the start. The log used to walk every slot forgotten by size on each add,
// under the lock every load takes, so adds grew slower with every key forgotten.
func TestKeyLogLongKeysStayCheap(t *testing.T) {
	var l keyLog
	key := func(i int) string { return strconv.Itoa(i) + strings.Repeat("k", 2000) }
	for i := range 20000 {
		l.add(key(i))
	}
	for i := 20000; i < 20010; i++ {
		l.add(key(i))
	}
	if len(l.ring) > 2*maxLoggedBytes/2000+2 {
		t.Errorf("the log holds %d slots for %d keys: forgotten keys are still walked", len(l.ring), l.n)
	}
	if got := l.keys(); got[0] != key(20009) || l.bytes > maxLoggedBytes {
		t.Errorf("newest %q…, %d bytes; want key 20009 and at most %d bytes", got[0][:6], l.bytes, maxLoggedBytes)
	}
}

// BenchmarkKeyLogAdd: what a load through NewGroup's getter pays to log its key, in a log
// that is full (every add forgets the oldest).
func BenchmarkKeyLogAdd(b *testing.B) {
	l, keys := fullKeyLog()
	i := 0
	for b.Loop() {
		l.add(keys[i%len(keys)])
		i++
	}
	b.StopTimer()
	if got := l.keys()[0]; got != keys[(i-1)%len(keys)] {
		b.Errorf("newest key %q, want %q, the last added", got, keys[(i-1)%len(keys)])
	}
}

// BenchmarkKeyLogAddParallel is BenchmarkKeyLogAdd from GOMAXPROCS goroutines at once, as
// concurrent loads of one group add their keys.
func BenchmarkKeyLogAddParallel(b *testing.B) {
	l, keys := fullKeyLog()
	var (
		next atomic.Int64
		mu   sync.Mutex
		last []string // each goroutine's last key added
	)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		first := int(next.Add(1)) * 7919
		i := first
		for ; pb.Next(); i++ {
			l.add(keys[i%len(keys)])
		}
		if i > first { // this goroutine added
			mu.Lock()
			defer mu.Unlock()
			last = append(last, keys[(i-1)%len(keys)])
		}
	})
	b.StopTimer()
	got := l.keys()
	for _, key := range last {
		if !slices.Contains(got, key) {
			b.Errorf("the log lost %q, the last key one goroutine added", key)
		}
	}
}

// fullKeyLog returns a log holding maxLoggedKeys keys, and twice as many keys to add, the
// first half those of the log.
func fullKeyLog() (*keyLog, []string) {
	l := new(keyLog)
	keys := make([]string, 2*maxLoggedKeys)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
		if i < maxLoggedKeys {
			l.add(keys[i])
		}
	}
	return l, keys
}
