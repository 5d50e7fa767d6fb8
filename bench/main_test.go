package bench

// TestMain dispatches the helper processes of the remote benchmarks (children_test.go)
// and, in the benchmark process, stops them once every benchmark has run.
// TestHelpersStopCleanly checks that the helpers leave no goroutine (internal/leakcheck)
// or process behind.

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/groupcache-k8s/k8s/internal/leakcheck"
)

func TestMain(m *testing.M) {
	switch os.Getenv("BENCH_ROLE") {
	case "server":
		os.Exit(runHelper(serverMain))
	case "client":
		os.Exit(runHelper(clientMain))
	case "handoff":
		os.Exit(runHelper(handoffMain))
	case "peers":
		os.Exit(runHelper(peersMain))
	case "peercost":
		os.Exit(runHelper(peerCostMain))
	case handoverRole:
		os.Exit(runHelper(handoverMain))
	}
	code := m.Run()
	if err := stopHelpers(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the helper processes:", err)
		code = max(code, 1)
	}
	os.Exit(code)
}

func TestHelpersStopCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts helper processes")
	}
	if err := stopHelpers(); err != nil { // none should be running, but start from zero
		t.Fatal(err)
	}
	leakcheck.Check(t)
	// Registered after the check, so run before it: a connection net/http keeps idle
	// is not a leak.
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)

	m, err := newPickerManager(peerIPs(100))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.PickPeer("some key"); !ok && len(m.Peers()) != 100 {
		t.Errorf("manager has %d peers, want 100", len(m.Peers()))
	}
	m.Close()

	var procs []*exec.Cmd
	for _, impl := range transportImpls {
		c, err := clientHelper(impl)
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, c.cmd)
		for _, kind := range []string{"remote", "group"} {
			f, err := c.call(time.Minute, "run %s 4096 4 20", kind)
			if err != nil || len(f) < 7 || f[0] != "ok" || f[6] != "0" {
				t.Fatalf("%s %s: answer %q, %v; want ok with no errors", impl, kind, f, err)
			}
		}
	}
	for _, impl := range peekImpls {
		c, err := handoffHelper(impl)
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, c.cmd)
		if f, err := c.call(time.Minute, "run 20"); err != nil || len(f) < 7 || f[0] != "ok" || f[6] != "0" {
			t.Fatalf("handoff %s: answer %q, %v; want ok with no errors", impl, f, err)
		}
	}
	procs = append(procs, helpers.server.cmd)
	if err := stopHelpers(); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range procs {
		if st := cmd.ProcessState; st == nil || !st.Exited() {
			t.Errorf("helper process %d has not exited: %v", cmd.Process.Pid, st)
		}
	}
}
