package main

// Reading the output of the e2e hand-off tests (e2e/handoff_test.go), which rounds.go runs
// and stores: each test makes one membership change under load in three modes and logs
// one "handoff:" line with the keys each mode loaded again.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// membershipArgs is the command line, after "go", that runs the e2e hand-off tests in the
// e2e module.
var membershipArgs = []string{"test", "-race", "-count=1", "-timeout", "30m", "-run", "^TestHandoff", "-v", "."}

// membershipCommand is the command as a reader would type it from the repository's root.
func membershipCommand() string {
	args := []string{"cd", "e2e", "&&", "go"}
	for _, a := range membershipArgs {
		if strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-=._/") != "" {
			a = "'" + a + "'"
		}
		args = append(args, a)
	}
	return strings.Join(args, " ")
}

// membershipRun is what one run of the e2e hand-off tests measured.
type membershipRun struct {
	// Cases are the membership changes, one per "handoff:" line, in the order logged.
	Cases []membershipCase
	// Passed: go test ended with "ok". A run whose tests failed (or that was cut short)
	// still shows the cases that got as far as measuring.
	Passed bool
	// Failed are the tests and subtests go test reported as failed.
	Failed []string
}

// membershipCase is one membership change measured in each mode.
type membershipCase struct {
	What string // "scale-up 3 → 4", "rolling update"
	Keys int    // the warm working set
	// The modes: the hand-off (the default), HANDOFF=off on every pod, and
	// TESTONLY_TRANSPORT=httppool (the example's test-only switch), groupcache's HTTPPool fed
	// by WatchPeers.
	Handoff, NoHandoff, HTTPPool modeResult
}

// modeResult is one mode's figures of a case.
type modeResult struct {
	Reloaded   int           // keys of the working set loaded again
	Took       time.Duration // from the start of the change until it had settled
	FailedGets int
}

// handoffLine is the line testHandoff logs, after go test's "handoff_test.go:NN: ".
var handoffLine = regexp.MustCompile(`handoff: (.+) reloaded (\d+) of (\d+) keys with hand-off, (\d+) without, (\d+) with HTTPPool ` +
	`\(changes took ([^,;]+), ([^,;]+) and ([^,;]+); failed gets (\d+), (\d+) and (\d+)\)`)

var (
	testFailed = regexp.MustCompile(`^\s*--- FAIL: (\S+)`)
	testsOK    = regexp.MustCompile(`^ok\s`)
)

// parseMembership reads go test -v output of the e2e hand-off tests.
func parseMembership(out []byte) (*membershipRun, error) {
	m := &membershipRun{}
	for i, line := range strings.Split(string(out), "\n") {
		switch {
		case testsOK.MatchString(line):
			m.Passed = true
		case testFailed.MatchString(line):
			m.Failed = append(m.Failed, testFailed.FindStringSubmatch(line)[1])
		}
		f := handoffLine.FindStringSubmatch(line)
		if f == nil {
			continue
		}
		atoi := func(i int) int {
			n, _ := strconv.Atoi(f[i]) // \d+: only an overflow fails, and leaves 0
			return n
		}
		var took [3]time.Duration
		for j, s := range f[6:9] {
			d, err := time.ParseDuration(s)
			if err != nil {
				return nil, fmt.Errorf("line %d: %q: %v", i+1, line, err)
			}
			took[j] = d
		}
		m.Cases = append(m.Cases, membershipCase{What: f[1], Keys: atoi(3),
			Handoff:   modeResult{Reloaded: atoi(2), Took: took[0], FailedGets: atoi(9)},
			NoHandoff: modeResult{Reloaded: atoi(4), Took: took[1], FailedGets: atoi(10)},
			HTTPPool:  modeResult{Reloaded: atoi(5), Took: took[2], FailedGets: atoi(11)},
		})
	}
	return m, nil
}

// find returns the case whose name starts with prefix ("rolling update", "scale-up").
func (m *membershipRun) find(prefix string) (membershipCase, bool) {
	if m == nil {
		return membershipCase{}, false
	}
	for _, c := range m.Cases {
		if strings.HasPrefix(c.What, prefix) {
			return c, true
		}
	}
	return membershipCase{}, false
}
