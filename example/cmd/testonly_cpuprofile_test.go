package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// TestStartCPUProfiles: a directory that cannot take the file is an error naming
// TESTONLY_CPU_PROFILE; otherwise each period ends in a CPU profile of its own, the last one
// at stop, after which the profiler is free again.
func TestStartCPUProfiles(t *testing.T) {
	_, err := startCPUProfiles(filepath.Join(t.TempDir(), "no such directory"), "pod-1", time.Hour)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "TESTONLY_CPU_PROFILE") {
		t.Errorf("profiling into a missing directory: %v; want ErrNotExist naming TESTONLY_CPU_PROFILE", err)
	}
	dir := t.TempDir()
	stop, err := startCPUProfiles(dir, "pod-1", 20*time.Millisecond)
	if err != nil {
		t.Fatalf("profiling into a directory: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(profiles(t, dir)) < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s of 20 ms periods, %d profiles; want 3", len(profiles(t, dir)))
		}
	}
	if err := stop(); err != nil {
		t.Errorf("stop = %v", err)
	}
	for _, path := range profiles(t, dir) {
		checkCPUProfile(t, path)
	}
	if err := pprof.StartCPUProfile(io.Discard); err != nil {
		t.Errorf("after stop, a new CPU profile: %v; want the profiler free", err)
	} else {
		pprof.StopCPUProfile()
	}
}

// TestExampleWritesCPUProfile: with TESTONLY_CPU_PROFILE the example has written, by the time it
// has stopped at SIGTERM, a CPU profile named after the pod.
func TestExampleWritesCPUProfile(t *testing.T) {
	dir := t.TempDir()
	e := startExample(t, map[string]string{"TESTONLY_CPU_PROFILE": dir})
	var got map[string]string
	getJSON(t, e.base+"/get?key=cpu-profile", &got)
	if err := e.stop(t); err != nil {
		t.Fatalf("run after SIGTERM = %v", err)
	}
	paths := profiles(t, dir)
	if len(paths) != 1 || !strings.HasPrefix(filepath.Base(paths[0]), "demo-pod-1-") {
		t.Fatalf("profiles %v; want one, demo-pod-1-<ms>.pprof (the run was shorter than a period)", paths)
	}
	checkCPUProfile(t, paths[0])
}

// profiles returns the .pprof files in dir.
func profiles(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.pprof"))
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// checkCPUProfile checks that path holds what go tool pprof reads as a CPU profile: a gzipped
// protocol buffer whose sample types name CPU time in nanoseconds.
func checkCPUProfile(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s (%d bytes) is not gzipped: %v", path, len(data), err)
	}
	proto, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s does not decompress: %v", path, err)
	}
	for _, want := range []string{"cpu", "nanoseconds"} {
		if !bytes.Contains(proto, []byte(want)) {
			t.Errorf("%s's strings lack %q; want a CPU profile", path, want)
		}
	}
}
