package prometheus

// The goroutine leak check of the tests, and its own test.

import (
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// leakWait is how long stopped goroutines (connections, watches) get to exit.
const leakWait = 5 * time.Second

// checkNoGoroutineLeaks fails the test if goroutines started after it was called still
// run once the test's later cleanups (closing managers and fake servers) have run.
func checkNoGoroutineLeaks(t *testing.T) {
	t.Helper()
	before := goroutines()
	t.Cleanup(func() {
		if leaked := newGoroutines(before, leakWait); len(leaked) > 0 {
			t.Errorf("%d goroutines left behind:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
	})
}

// newGoroutines returns the stacks of goroutines not in before, asking again until there
// are none or wait has passed: a goroutine that was told to stop takes a moment to exit.
func newGoroutines(before map[int]bool, wait time.Duration) []string {
	deadline := time.Now().Add(wait)
	for {
		var leaked []string
		for id, stack := range goroutineStacks() {
			if !before[id] {
				leaked = append(leaked, stack)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			slices.Sort(leaked)
			return leaked
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func goroutines() map[int]bool {
	ids := make(map[int]bool)
	for id := range goroutineStacks() {
		ids[id] = true
	}
	return ids
}

// goroutineStacks returns the stack of every goroutine by its id.
func goroutineStacks() map[int]string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	stacks := make(map[int]string)
	for _, stack := range strings.Split(string(buf), "\n\n") {
		fields := strings.Fields(stack) // "goroutine 42 [state]:"
		if len(fields) < 2 || fields[0] != "goroutine" {
			continue
		}
		if id, err := strconv.Atoi(fields[1]); err == nil {
			stacks[id] = stack
		}
	}
	return stacks
}

// TestLeakCheckSeesALeak: the check finds a blocked goroutine, and nothing once it
// has exited.
func TestLeakCheckSeesALeak(t *testing.T) {
	before := goroutines()
	release, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		<-release
	}()
	if leaked := newGoroutines(before, 0); len(leaked) != 1 {
		t.Errorf("found %d new goroutines, want the 1 blocked one:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
	close(release)
	<-exited
	if leaked := newGoroutines(before, leakWait); len(leaked) != 0 {
		t.Errorf("found %d new goroutines after the blocked one exited, want none:\n%s", len(leaked),
			strings.Join(leaked, "\n\n"))
	}
}
