package k8s

// The goroutine leak checker of the tests, and its own test.

import (
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLeakedGoroutinesDetectsALeak checks the goroutine leak helper itself.
func TestLeakedGoroutinesDetectsALeak(t *testing.T) {
	before := goroutineStacks()
	release := make(chan struct{})
	go func() { <-release }()
	if leaked := leakedGoroutines(before, 50*time.Millisecond); len(leaked) != 1 {
		t.Errorf("found %d new goroutines, want the 1 blocked one:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
	close(release)
	if leaked := leakedGoroutines(before, 5*time.Second); len(leaked) != 0 {
		t.Errorf("found %d goroutines after the blocked one exited, want none:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
}

// checkNoGoroutineLeaks fails the test if goroutines that did not exist when it was
// called still run after the test's other cleanups (registered later, so run earlier).
func checkNoGoroutineLeaks(t *testing.T) {
	t.Helper()
	before := goroutineStacks()
	t.Cleanup(func() {
		if leaked := leakedGoroutines(before, 5*time.Second); len(leaked) > 0 {
			t.Errorf("%d goroutines left behind:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
	})
}

// leakedGoroutines returns the stacks of goroutines that are not in before, retrying
// until none are left or wait has passed: stopped goroutines take a moment to exit.
func leakedGoroutines(before map[int]string, wait time.Duration) []string {
	deadline := time.Now().Add(wait)
	for {
		var leaked []string
		for id, stack := range goroutineStacks() {
			if _, ok := before[id]; !ok {
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

// goroutineStacks returns the stack of every goroutine by goroutine id.
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
		// Each stack starts with "goroutine 42 [state]:".
		fields := strings.Fields(stack)
		if len(fields) < 2 || fields[0] != "goroutine" {
			continue
		}
		if id, err := strconv.Atoi(fields[1]); err == nil {
			stacks[id] = stack
		}
	}
	return stacks
}
