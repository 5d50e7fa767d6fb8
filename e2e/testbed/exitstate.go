package testbed

// A pod's exit state: what the example wrote when it stopped (its test-only
// TESTONLY_EXIT_STATE), from which the test bed learns how the pod's drain at SIGTERM ended,
// and its last counters, after the process has exited.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// ExitState is what the example wrote once its node's Close had returned at SIGTERM.
type ExitState struct {
	// Stats are the pod's /stats at that moment, every counter final: Peers.DrainRequests
	// counts the peers' Gets and peeks its drain served (0 without a drain, as with
	// HANDOFF=off), and Peers.Draining is false, the drain over.
	Stats Stats `json:"stats"`
	// CloseTook is how long the example waited for Close from SIGTERM: the drain, then the
	// stop of the watch and the gRPC server.
	CloseTook time.Duration `json:"closeTook"`
}

func (s ExitState) String() string {
	return fmt.Sprintf("Close took %s from SIGTERM, the drain and the stop; %d peer requests served while draining",
		s.CloseTook.Round(time.Millisecond), s.Stats.Peers.DrainRequests)
}

// ExitState returns the state the pod wrote when it stopped. It is an error if the process
// still runs, if it exited without writing one (it was killed, or failed), and if the state
// says the drain still ran, which Close returning rules out.
func (p *Pod) ExitState() (ExitState, error) {
	if !p.proc.exited() {
		return ExitState{}, fmt.Errorf("pod %s: no exit state while the process runs", p.Name)
	}
	data, err := os.ReadFile(p.exitStatePath)
	if errors.Is(err, fs.ErrNotExist) {
		return ExitState{}, fmt.Errorf("pod %s exited (%v) without writing its exit state", p.Name, p.proc.err)
	}
	if err != nil {
		return ExitState{}, fmt.Errorf("pod %s: %w", p.Name, err)
	}
	var s ExitState
	if err := json.Unmarshal(data, &s); err != nil {
		return ExitState{}, fmt.Errorf("pod %s: its exit state %q: %w", p.Name, data, err)
	}
	if s.Stats.Peers.Draining {
		return s, fmt.Errorf("pod %s: its exit state says it was still draining after Close returned: %s", p.Name, data)
	}
	return s, nil
}
