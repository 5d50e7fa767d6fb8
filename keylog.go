package k8s

// The key log: the keys a group made by NewGroup has loaded lately, which are the
// entries this pod may hold in the group's main cache and hand over when their keys move
// (pusher.go). groupcache keeps its caches private; this is what passes through the
// group's getter, bounded.

import "sync"

// maxLoggedKeys and maxLoggedBytes bound the keys a group's log remembers, in number and
// in bytes: the oldest are forgotten first, as groupcache's LRU evicts the oldest entries
// first.
const (
	maxLoggedKeys  = 1 << 16
	maxLoggedBytes = 4 << 20
)

// maxLoggedKeyBytes is the longest key a log remembers: one key forgets at most a 64th
// of the log's bytes of others. A peer's push may carry a key of megabytes (in the call's
// metadata), and a key as long as the log's byte bound made it forget every other key.
const maxLoggedKeyBytes = maxLoggedBytes / 64

// keyLog is the keys added lately, in a circular buffer, oldest at head: adding costs a
// slot and a lock whatever the keys' lengths and however full the log is, since every load
// of a group made by NewGroup adds its key. A key added again takes a new slot as the
// newest; keys returns each key once. It is safe for concurrent use.
type keyLog struct {
	mu    sync.Mutex
	ring  []string // ring[(head+i) & (len(ring)-1)] for i < n are the keys, oldest first
	head  int
	n     int
	bytes int // of the keys in the buffer
}

// The buffer's length is a power of two (it starts at 64 and doubles up to maxLoggedKeys),
// so that a slot's index is a mask, not a division, on every add.
var _ = [1]struct{}{}[maxLoggedKeys&(maxLoggedKeys-1)] // maxLoggedKeys is a power of two

// add remembers key as the newest, forgetting the oldest keys while the log would be over
// its bounds. A key longer than maxLoggedKeyBytes is not logged.
func (l *keyLog) add(key string) {
	if len(key) > maxLoggedKeyBytes {
		return
	}
	l.mu.Lock()
	if l.n == maxLoggedKeys { // full, as a pod's log is once it has run a while
		if oldest := l.ring[l.head]; l.bytes-len(oldest)+len(key) <= maxLoggedBytes {
			// The newest takes the oldest's slot: the slot after it is the oldest now.
			l.ring[l.head] = key
			l.head = (l.head + 1) & (maxLoggedKeys - 1)
			l.bytes += len(key) - len(oldest)
			l.mu.Unlock()
			return
		}
	}
	mask := len(l.ring) - 1
	for l.n > 0 && (l.n == maxLoggedKeys || l.bytes+len(key) > maxLoggedBytes) {
		l.bytes -= len(l.ring[l.head])
		l.ring[l.head] = ""
		l.head = (l.head + 1) & mask
		l.n--
	}
	if l.n == len(l.ring) { // full below maxLoggedKeys: grow, oldest first at 0
		grown := make([]string, min(max(2*len(l.ring), 64), maxLoggedKeys))
		for i := range l.n {
			grown[i] = l.ring[(l.head+i)&mask]
		}
		l.ring, l.head, mask = grown, 0, len(grown)-1
	}
	l.ring[(l.head+l.n)&mask] = key
	l.n++
	l.bytes += len(key)
	l.mu.Unlock() // not deferred: nothing above panics, and a load pays for every add
}

// keys returns the keys in the log, newest first, each once: the entries most likely
// still cached first.
func (l *keyLog) keys() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, l.n)
	seen := make(map[string]struct{}, l.n)
	for i := l.n - 1; i >= 0; i-- {
		key := l.ring[(l.head+i)&(len(l.ring)-1)]
		if _, dup := seen[key]; !dup {
			seen[key] = struct{}{}
			out = append(out, key)
		}
	}
	return out
}
