package bench

// Thread wake-ups of the helper processes, as Linux counts them: the remote benchmarks
// report how many times the caller's threads and the server's were put on a CPU per call,
// to show how many times a call is handed from one thread to another (a goroutine that
// wakes another on an idle thread wakes that thread).

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
)

// threadRuns returns, for each process of pids, how many times its threads have been put
// on a CPU: the sum over /proc/PID/task/*/schedstat of the third field, "# of timeslices
// run on this cpu" (the kernel's Documentation/scheduler/sched-stats.rst). That counts every
// switch onto a CPU: a thread woken from a futex or epoll wait, and one that was preempted
// and runs again. The runtime's own threads count too (sysmon, GC workers).
//
// A thread that exits takes its count with it, so a process whose threads exit between two
// readings under-counts; Go's runtime keeps its threads rather than ending them (it ends
// one only when a goroutine locked to it exits), so this is rare. It returns an error where
// the kernel keeps no such count (not Linux, or a kernel without CONFIG_SCHED_INFO).
func threadRuns(pids ...int) ([]uint64, error) {
	runs := make([]uint64, len(pids))
	for i, pid := range pids {
		paths, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
				continue // the thread exited since the glob
			}
			if err != nil {
				return nil, err
			}
			n, err := timeslices(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			runs[i] += n
		}
		if runs[i] == 0 { // a live process has run at least once
			return nil, fmt.Errorf("no thread of process %d has a count of timeslices in /proc/%d/task/*/schedstat", pid, pid)
		}
	}
	return runs, nil
}

// timeslices is the third field of a schedstat line: "RUN_NS WAIT_NS TIMESLICES".
func timeslices(schedstat []byte) (uint64, error) {
	f := bytes.Fields(schedstat)
	if len(f) < 3 {
		return 0, fmt.Errorf("%q has %d fields, want 3", schedstat, len(f))
	}
	return strconv.ParseUint(string(f[2]), 10, 64)
}

func TestTimeslices(t *testing.T) {
	for _, c := range []struct {
		name string
		line string
		want uint64
		err  bool
	}{
		{"a thread that ran", "187630888 22363580 738\n", 738, false},
		{"schedstats off", "0 0 0\n", 0, false},
		{"too few fields", "187630888 22363580\n", 0, true},
		{"not a count", "1 2 x\n", 0, true},
	} {
		got, err := timeslices([]byte(c.line))
		if got != c.want || (err != nil) != c.err {
			t.Errorf("%s: timeslices(%q) = %d, %v; want %d, error %v", c.name, c.line, got, err, c.want, c.err)
		}
	}
}

// TestThreadRunsCountsHandoffs checks that a goroutine handing work to a goroutine on
// another thread, and waiting for the answer, counts a wake-up each way: what the remote
// benchmarks count.
func TestThreadRunsCountsHandoffs(t *testing.T) {
	if _, err := threadRuns(os.Getpid()); err != nil {
		t.Skip(err)
	}
	const rounds = 1000
	ping, pong := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread() // a thread of its own, which sleeps while it waits
		defer close(done)
		for range ping {
			pong <- struct{}{}
		}
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, err := threadRuns(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for range rounds {
		ping <- struct{}{}
		<-pong
	}
	after, err := threadRuns(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	close(ping)
	<-done
	if d := after[0] - before[0]; d < 2*rounds {
		t.Errorf("%d round trips between two threads counted %d runs on a CPU, want at least %d", rounds, d, 2*rounds)
	}
}
