package main

// Running the tools the report drives (go, the test binaries, pprof, benchstat): their
// standard output is returned, their standard error shown.

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// command runs name args in dir with env added, and returns its standard output. Its
// standard error goes to ours.
func command(dir string, env []string, name string, args ...string) ([]byte, error) {
	return commandErr(os.Stderr, dir, env, name, args...)
}

// quietCommand is command, with standard error shown only if the command fails.
func quietCommand(dir string, env []string, name string, args ...string) ([]byte, error) {
	var stderr bytes.Buffer
	out, err := commandErr(&stderr, dir, env, name, args...)
	if err != nil {
		os.Stderr.Write(stderr.Bytes())
	}
	return out, err
}

// commandErr is command with its standard error going to stderr. When the command fails,
// its standard output goes to our standard error and the error names the command line.
func commandErr(stderr io.Writer, dir string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		os.Stderr.Write(out)
		return nil, fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return out, nil
}

// commandAnyway is command that returns the standard output even when the command fails:
// go test prints the results of the tests that failed, and of those that passed.
func commandAnyway(dir string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return out, nil
}
