package main

// Test-only (TESTONLY_CPU_PROFILE=<directory>): CPU profiles of the whole process, one per
// cpuProfilePeriod, written to <directory>/<POD_NAME>-<unix milliseconds at its start>.pprof, so that
// the scale run (e2e/cmd/scale -cpu-profiles) can say where pods' CPU goes during a rolling
// update: the files of a span add up to it (go tool pprof takes many), and a process killed
// before it stopped loses one period at most. Not for users: the profiler's sampling costs
// CPU of its own.

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"time"
)

// cpuProfilePeriod is how much of the process's life one profile covers.
const cpuProfilePeriod = 10 * time.Second

// startCPUProfiles starts profiling into dir, a file per period named after name, and
// returns the function that ends the current profile, writes it and stops. An error names
// TESTONLY_CPU_PROFILE: the first file's at once, a later one's from stop.
func startCPUProfiles(dir, name string, period time.Duration) (stop func() error, err error) {
	profile := func() (*os.File, error) {
		f, err := os.Create(filepath.Join(dir, name+"-"+strconv.FormatInt(time.Now().UnixMilli(), 10)+".pprof"))
		if err == nil {
			if err = pprof.StartCPUProfile(f); err != nil {
				f.Close()
			}
		}
		if err != nil {
			return nil, fmt.Errorf("TESTONLY_CPU_PROFILE: %w", err)
		}
		return f, nil
	}
	finish := func(f *os.File) error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("TESTONLY_CPU_PROFILE: %w", err)
		}
		return nil
	}
	first, err := profile()
	if err != nil {
		return nil, err
	}
	quit, done := make(chan struct{}), make(chan error, 1)
	go func() {
		f := first
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-quit:
				done <- finish(f)
				return
			case <-t.C:
				if err := finish(f); err != nil {
					done <- err
					return
				}
				next, err := profile()
				if err != nil {
					done <- err
					return
				}
				f = next
			}
		}
	}()
	return func() error {
		close(quit)
		return <-done
	}, nil
}
