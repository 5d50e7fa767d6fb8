package testbed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExitState: a pod's exit state is the file the example wrote, decoded; there is none
// while the process runs, nor when it wrote none or garbage, and a state that says the drain
// still ran is an error.
func TestExitState(t *testing.T) {
	const written = `{"stats":{"backendLoads":341,"group":{"Gets":10000},"peers":{"Peers":0,"Draining":false,"DrainRequests":4}},"closeTook":1512000000}`
	for _, tc := range []struct {
		name    string
		running bool
		file    string // "" for none
		wantErr string // a part of the error; "" for none
	}{
		{"still running", true, written, "while the process runs"},
		{"written", false, written, ""},
		{"none written (killed)", false, "", "without writing its exit state"},
		{"garbage", false, `{"stats":`, "its exit state"},
		{"still draining", false, `{"stats":{"peers":{"Draining":true}},"closeTook":1}`, "still draining"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fakePod("p", "127.0.0.1")
			p.exitStatePath = filepath.Join(t.TempDir(), "exit.json")
			if tc.file != "" {
				if err := os.WriteFile(p.exitStatePath, []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if !tc.running {
				close(p.proc.done)
			}
			got, err := p.ExitState()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("ExitState = %+v, %v; want an error saying %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want ExitState
			want.Stats.BackendLoads, want.Stats.Group.Gets, want.Stats.Peers.DrainRequests = 341, 10000, 4
			want.CloseTook = 1512 * time.Millisecond
			if got != want {
				t.Errorf("ExitState = %+v, want %+v", got, want)
			}
			if s, want := got.String(), "Close took 1.512s from SIGTERM, the drain and the stop; 4 peer requests served while draining"; s != want {
				t.Errorf("String = %q, want %q", s, want)
			}
		})
	}
}
