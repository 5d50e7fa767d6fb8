// Command record records what a real kube-apiserver sends to the library's LIST and WATCH
// requests while the test bed changes a Service's pods, and writes each scenario to the root
// module's testdata/streams/real_*.txt, which the unit tests replay. Every frame is written
// byte for byte as the server sent it.
//
//	cd e2e && go run ./cmd/record     (or: make record)
//
// It takes about three minutes: the 410 scenario has to outlast the API server's watch
// history (75 s), and the lifecycle scenario waits for a real bookmark (about 60 s).
//
// RECORD_ONLY, a comma-separated list of file names, records only those scenarios and leaves
// the other files as they are:
//
//	cd e2e && RECORD_ONLY=real_publish_not_ready.txt go run ./cmd/record
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
)

func main() {
	if !testbed.InNetNS() {
		os.Exit(testbed.BuildAndRerun())
	}
	if err := recordAll(); err != nil {
		fmt.Fprintln(os.Stderr, "record:", err)
		os.Exit(1)
	}
}

func recordAll() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	todo, err := selectScenarios(os.Getenv("RECORD_ONLY"))
	if err != nil {
		return err
	}
	bins, err := testbed.BinariesFromEnv()
	if err != nil {
		return err
	}
	cluster, err := testbed.Start(ctx, bins, os.Stderr)
	if err != nil {
		return err
	}
	defer cluster.Stop()
	r := &recorder{c: cluster}
	if err := r.setup(ctx); err != nil {
		return err
	}
	for _, s := range todo {
		fmt.Fprintf(os.Stderr, "record: %s ...\n", s.file)
		out, err := s.run(ctx, r)
		if err != nil {
			return fmt.Errorf("%s: %w", s.file, err)
		}
		path := filepath.Join(testbed.RootDir(), "testdata", "streams", s.file)
		if err := writeStream(path, s.comment, out); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "record: wrote %s (%d sections)\n", path, len(out))
		if err := r.reset(ctx); err != nil {
			return err
		}
	}
	return nil
}

// selectScenarios returns the scenarios named in only (comma-separated file names), or all
// of them if only is empty.
func selectScenarios(only string) ([]scenario, error) {
	if only == "" {
		return scenarios, nil
	}
	var out []scenario
	for _, name := range strings.Split(only, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(scenarios, func(s scenario) bool { return s.file == name })
		if i < 0 {
			return nil, fmt.Errorf("RECORD_ONLY: no scenario %q", name)
		}
		out = append(out, scenarios[i])
	}
	return out, nil
}

// section is one answer of a stream file: a LIST body or the frames of one WATCH.
type section struct {
	header string // "list" or "watch"; the replay ends each watch after its last frame
	lines  []string
}

func writeStream(path, comment string, sections []section) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintf(w, "%s\nRecorded from kube-apiserver v1.37.2 and its EndpointSlice controller by e2e/cmd/record.\n", comment)
	for _, s := range sections {
		fmt.Fprintf(w, "-- %s --\n", s.header)
		for _, l := range s.lines {
			fmt.Fprintln(w, l)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
