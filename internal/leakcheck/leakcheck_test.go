package leakcheck

import (
	"strings"
	"testing"
)

// TestSinceSeesALeak: Since finds a blocked goroutine, and nothing once it has exited.
func TestSinceSeesALeak(t *testing.T) {
	before := Stacks()
	release, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		<-release
	}()
	if leaked := Since(before, 0); len(leaked) != 1 {
		t.Errorf("found %d new goroutines, want the 1 blocked one:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
	close(release)
	<-exited
	if leaked := Since(before, Wait); len(leaked) != 0 {
		t.Errorf("found %d new goroutines after the blocked one exited, want none:\n%s", len(leaked),
			strings.Join(leaked, "\n\n"))
	}
}
