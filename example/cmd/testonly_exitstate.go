package main

// Test-only (TESTONLY_EXIT_STATE=<file>): the example's state when it stops, written to a file
// once its node's Close has returned, so that the end-to-end test bed learns how a pod's drain
// at SIGTERM ended from the example, after the process has exited (its HTTP server closes at
// SIGTERM), and not from its log. Not for users: the same counters are on /stats while the
// example runs.

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// exitState is the document written to TESTONLY_EXIT_STATE.
type exitState struct {
	// Stats is the /stats document once the node's Close has returned: the drain is over
	// (peers.Draining is false) and every counter final (peers.DrainRequests counts the
	// peers' Gets and peeks the drain served).
	Stats any `json:"stats"`
	// CloseTook is how long the example waited for its node's Close from SIGTERM, when it
	// stopped serving: the drain, which began at SIGTERM, then the stop of the watch and
	// of the gRPC server. In nanoseconds, as Go encodes a time.Duration.
	CloseTook time.Duration `json:"closeTook"`
}

// writeExitState writes s to the file path as JSON, replacing the file if it exists. An error
// names TESTONLY_EXIT_STATE.
func writeExitState(path string, s exitState) error {
	data, err := json.Marshal(s)
	if err == nil {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		return fmt.Errorf("TESTONLY_EXIT_STATE: %w", err)
	}
	return nil
}
