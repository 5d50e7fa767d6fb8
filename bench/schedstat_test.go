package bench

// What Linux's scheduler counts for the threads of the helper processes: the remote
// benchmarks report, per call, how many times the caller's threads and the server's were
// put on a CPU, to show how many times a call is handed from one thread to another (a
// goroutine that wakes another on an idle thread wakes that thread), and how long they
// ran on a CPU, to show what a call costs each process.

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
	"time"
)

// schedstat is what /proc/PID/task/TID/schedstat counts for a thread, or the sum over the
// threads of a process (the kernel's Documentation/scheduler/sched-stats.rst).
type schedstat struct {
	// cpuNs is the first field, the time spent on a CPU in ns, user and kernel time
	// alike.
	cpuNs uint64
	// runs is the third field, "# of timeslices run on this cpu": every switch onto a
	// CPU, a thread woken from a futex or epoll wait as well as one that was preempted
	// and runs again.
	runs uint64
}

// readSchedstats returns, for each process of pids, the sum of its threads' schedstats,
// read once from /proc/PID/task/*/schedstat. The runtime's own threads count too (sysmon,
// GC workers).
//
// A thread that exits takes its counts with it, so a process whose threads exit between
// two readings under-counts; Go's runtime keeps its threads rather than ending them (it
// ends one only when a goroutine locked to it exits), so this is rare. It returns an error
// where the kernel keeps no such counts (not Linux, or a kernel without CONFIG_SCHED_INFO).
func readSchedstats(pids ...int) ([]schedstat, error) {
	sums := make([]schedstat, len(pids))
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
			s, err := parseSchedstat(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			sums[i].cpuNs += s.cpuNs
			sums[i].runs += s.runs
		}
		if sums[i].runs == 0 { // a live process has run at least once
			return nil, fmt.Errorf("no thread of process %d has a count of timeslices in /proc/%d/task/*/schedstat", pid, pid)
		}
	}
	return sums, nil
}

// parseSchedstat reads a schedstat line: "RUN_NS WAIT_NS TIMESLICES".
func parseSchedstat(line []byte) (schedstat, error) {
	f := bytes.Fields(line)
	if len(f) < 3 {
		return schedstat{}, fmt.Errorf("%q has %d fields, want 3", line, len(f))
	}
	cpu, err := strconv.ParseUint(string(f[0]), 10, 64)
	if err != nil {
		return schedstat{}, err
	}
	runs, err := strconv.ParseUint(string(f[2]), 10, 64)
	if err != nil {
		return schedstat{}, err
	}
	return schedstat{cpuNs: cpu, runs: runs}, nil
}

func TestParseSchedstat(t *testing.T) {
	for _, c := range []struct {
		name string
		line string
		want schedstat
		err  bool
	}{
		{"a thread that ran", "187630888 22363580 738\n", schedstat{cpuNs: 187630888, runs: 738}, false},
		{"schedstats off", "0 0 0\n", schedstat{}, false},
		{"too few fields", "187630888 22363580\n", schedstat{}, true},
		{"not a count of timeslices", "1 2 x\n", schedstat{}, true},
		{"not a time", "x 2 3\n", schedstat{}, true},
	} {
		got, err := parseSchedstat([]byte(c.line))
		if got != c.want || (err != nil) != c.err {
			t.Errorf("%s: parseSchedstat(%q) = %+v, %v; want %+v, error %v", c.name, c.line, got, err, c.want, c.err)
		}
	}
}

// TestSchedstatCountsHandoffs checks that a goroutine handing work to a goroutine on
// another thread, and waiting for the answer, counts a wake-up each way: what the remote
// benchmarks count.
func TestSchedstatCountsHandoffs(t *testing.T) {
	if _, err := readSchedstats(os.Getpid()); err != nil {
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
	before, err := readSchedstats(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for range rounds {
		ping <- struct{}{}
		<-pong
	}
	after, err := readSchedstats(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	close(ping)
	<-done
	if d := after[0].runs - before[0].runs; d < 2*rounds {
		t.Errorf("%d round trips between two threads counted %d runs on a CPU, want at least %d", rounds, d, 2*rounds)
	}
}

// TestSchedstatCPUTime checks the CPU time against getrusage's, which the kernel sums
// from the same per-thread figure: over a stretch of busy work they must agree, up to
// the tick by which a running thread's figure in /proc can lag.
func TestSchedstatCPUTime(t *testing.T) {
	if _, err := readSchedstats(os.Getpid()); err != nil {
		t.Skip(err)
	}
	const (
		work  = 100 * time.Millisecond // of CPU time
		slack = 10 * time.Millisecond  // a tick at HZ=100, the coarsest
	)
	rusage := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	r0 := rusage()
	before, err := readSchedstats(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	sink := 0
	for rusage()-r0 < work {
		for i := range 100_000 {
			sink += i
		}
	}
	after, err := readSchedstats(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	want := rusage() - r0
	got := time.Duration(after[0].cpuNs - before[0].cpuNs)
	if got < want-slack-want/10 || got > want+slack {
		t.Errorf("schedstat counted %v on a CPU where getrusage counted %v (busy work %d)", got, want, sink)
	}
}
