// Package leakcheck is the goroutine leak check of the tests of every module in this
// repository: a test calls Check, and fails if goroutines it started still run once its
// later cleanups (closing managers and fake servers) have run.
package leakcheck

import (
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Wait is how long stopped goroutines (connections, watches) get to exit.
const Wait = 5 * time.Second

// Check fails t if goroutines that did not exist when it was called still run after the
// test's other cleanups (registered later, so run earlier).
func Check(t testing.TB) {
	t.Helper()
	before := Stacks()
	t.Cleanup(func() {
		if leaked := Since(before, Wait); len(leaked) > 0 {
			t.Errorf("%d goroutines left behind:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
	})
}

// Since returns the stacks of the goroutines that are not in before, asking again until
// there are none or wait has passed: a goroutine told to stop takes a moment to exit.
func Since(before map[int]string, wait time.Duration) []string {
	deadline := time.Now().Add(wait)
	for {
		var leaked []string
		for id, stack := range Stacks() {
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

// Stacks returns the stack of every goroutine by goroutine id.
func Stacks() map[int]string {
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
