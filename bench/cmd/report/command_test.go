package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestCommand(t *testing.T) {
	var stderr bytes.Buffer
	out, err := commandErr(&stderr, t.TempDir(), []string{"REPORT_TEST=yes"}, "sh", "-c", `echo "$REPORT_TEST"; echo warn >&2`)
	if err != nil || string(out) != "yes\n" || stderr.String() != "warn\n" {
		t.Errorf("out %q, stderr %q, err %v", out, stderr.String(), err)
	}
	_, err = quietCommand("", nil, "sh", "-c", "exit 3")
	if err == nil || !strings.Contains(err.Error(), "sh -c exit 3") {
		t.Errorf("a failed command: %v, want an error naming it", err)
	}
}

// TestCommandAnyway: a go test run whose tests fail still prints their results.
func TestCommandAnyway(t *testing.T) {
	out, err := commandAnyway(t.TempDir(), nil, "sh", "-c", "echo FAIL; exit 1")
	if err == nil || string(out) != "FAIL\n" {
		t.Errorf("out %q, err %v; want the output and an error", out, err)
	}
}
