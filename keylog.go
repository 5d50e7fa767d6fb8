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

// keyLog is a bounded set of keys in the order they were added: a queue, oldest at
// head, so that adding and forgetting cost the same whatever the keys' lengths. It is
// safe for concurrent use.
type keyLog struct {
	mu    sync.Mutex
	queue []string // queue[head:] are the keys, oldest first
	head  int
	bytes int // of the keys remembered
	known map[string]struct{}
}

// add remembers key, forgetting the oldest keys while the log is over its bounds. A key
// already in the log keeps its place; a key longer than maxLoggedKeyBytes is not logged.
func (l *keyLog) add(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.known[key]; ok || len(key) > maxLoggedKeyBytes {
		return
	}
	if l.known == nil {
		l.known = make(map[string]struct{})
	}
	l.queue = append(l.queue, key)
	l.known[key] = struct{}{}
	l.bytes += len(key)
	for len(l.queue)-l.head > maxLoggedKeys || l.bytes > maxLoggedBytes {
		old := l.queue[l.head]
		l.queue[l.head] = ""
		l.head++
		delete(l.known, old)
		l.bytes -= len(old)
	}
	if l.head > len(l.queue)/2 { // reuse the front half: amortised constant work
		n := copy(l.queue, l.queue[l.head:])
		clear(l.queue[n:])
		l.queue, l.head = l.queue[:n], 0
	}
}

// keys returns the keys in the log, newest first: the entries most likely still cached.
func (l *keyLog) keys() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.queue)-l.head)
	for i := len(l.queue) - 1; i >= l.head; i-- {
		out = append(out, l.queue[i])
	}
	return out
}
