package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWriteExitState: the state is written as JSON, replacing an older file; a file that
// cannot be written is an error naming TESTONLY_EXIT_STATE.
func TestWriteExitState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "exit.json")
	if err := os.WriteFile(path, []byte("an older run's state, longer than the new one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeExitState(path, exitState{Stats: map[string]int{"backendLoads": 3}, CloseTook: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if want := `{"stats":{"backendLoads":3},"closeTook":1500000000}`; err != nil || string(data) != want {
		t.Errorf("the file holds %s (%v); want %s", data, err, want)
	}
	err = writeExitState(filepath.Join(t.TempDir(), "no such directory", "exit.json"), exitState{})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "TESTONLY_EXIT_STATE") {
		t.Errorf("writing into a missing directory: %v; want ErrNotExist naming TESTONLY_EXIT_STATE", err)
	}
}

// TestExampleWritesExitState: with TESTONLY_EXIT_STATE the example writes nothing while it
// runs, and at SIGTERM, once its manager has drained and stopped, its final /stats and how
// long that took.
func TestExampleWritesExitState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "exit.json")
	e := startExample(t, map[string]string{"TESTONLY_EXIT_STATE": path})
	// groupcache's groups live as long as the process: a key no earlier run asked is loaded.
	var got map[string]string
	getJSON(t, e.base+"/get?key=exit-state-"+strconv.FormatInt(time.Now().UnixNano(), 36), &got)
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("while the example runs, stat %s: %v; want no file", path, err)
	}
	if err := e.stop(t); err != nil {
		t.Fatalf("run after SIGTERM = %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("after the example stopped: %v", err)
	}
	var state struct {
		Stats struct {
			BackendLoads int64
			Group        map[string]int64
			Peers        struct {
				APIRequests   int64
				Draining      *bool
				DrainRequests *int64
			}
		}
		CloseTook time.Duration
	}
	if err := json.Unmarshal(data, &state); err != nil {
		t.Fatalf("the exit state %s: %v", data, err)
	}
	s := state.Stats
	if s.BackendLoads != 1 || s.Group["Gets"] < 1 || s.Peers.APIRequests < 1 || s.Peers.Draining == nil || *s.Peers.Draining ||
		s.Peers.DrainRequests == nil || *s.Peers.DrainRequests != 0 {
		t.Errorf("the exit state's stats = %s; want this run's one backend load, the group's Gets, the manager's "+
			"API requests, not draining and no drain requests (no peer asked)", data)
	}
	if state.CloseTook <= 0 || state.CloseTook > 10*time.Second {
		t.Errorf("the exit state's closeTook = %v; want the time Close took, more than 0 and less than the 10 s the test waited", state.CloseTook)
	}
}
