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

// keyLog is a bounded set of keys in the order they were added. It is safe for
// concurrent use.
type keyLog struct {
	mu    sync.Mutex
	slots []logSlot // in the order added, the oldest at next
	next  int       // where the next key goes once the log is full (0 until then)
	bytes int       // of the keys remembered
	known map[string]struct{}
}

// logSlot is a key of the log, or a slot whose key was forgotten.
type logSlot struct {
	key  string
	live bool
}

// add remembers key, forgetting the oldest keys while the log is over its bounds. A key
// already in the log keeps its place; a key longer than maxLoggedBytes is not logged.
func (l *keyLog) add(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.known[key]; ok || len(key) > maxLoggedBytes {
		return
	}
	if l.known == nil {
		l.known = make(map[string]struct{})
	}
	if len(l.slots) < maxLoggedKeys {
		l.slots = append(l.slots, logSlot{key: key, live: true})
	} else {
		l.forget(l.next)
		l.slots[l.next] = logSlot{key: key, live: true}
		l.next = (l.next + 1) % maxLoggedKeys
	}
	l.known[key] = struct{}{}
	l.bytes += len(key)
	for i := l.next; l.bytes > maxLoggedBytes; i = (i + 1) % len(l.slots) {
		l.forget(i) // the oldest first; the key just added fits alone, so it stays
	}
}

// forget drops the key of slot i, if it has one. l.mu is held.
func (l *keyLog) forget(i int) {
	if s := l.slots[i]; s.live {
		delete(l.known, s.key)
		l.bytes -= len(s.key)
		l.slots[i] = logSlot{}
	}
}

// keys returns the keys in the log, newest first: the entries most likely still cached.
func (l *keyLog) keys() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.known))
	for i := range len(l.slots) {
		if s := l.slots[(l.next+len(l.slots)-1-i)%len(l.slots)]; s.live {
			out = append(out, s.key)
		}
	}
	return out
}
