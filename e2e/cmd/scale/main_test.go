package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseFlagsSteps: -steps takes the known steps in any order, and an unknown one is an
// error before anything starts.
func TestParseFlagsSteps(t *testing.T) {
	for _, tc := range []struct {
		steps   string
		wantErr string
	}{
		{"rollout", ""},
		{"cost,rollout", ""},
		{strings.Join(stepNames, ","), ""},
		{"rollout,nope", `-steps: unknown step "nope"`},
		{"", `-steps: unknown step ""`},
	} {
		_, err := parseFlags([]string{"-steps", tc.steps})
		if got := fmt.Sprint(err); tc.wantErr == "" && err != nil || tc.wantErr != "" && !strings.HasPrefix(got, tc.wantErr) {
			t.Errorf("parseFlags(-steps %q) = %v; want %q", tc.steps, err, tc.wantErr)
		}
	}
}

// TestParseFlagsCPUProfiles: the directory of the pods' CPU profiles is made absolute, since
// the pods do not run in the command's directory; none by default.
func TestParseFlagsCPUProfiles(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"-cpu-profiles", "/tmp/profiles"}, "/tmp/profiles"},
		{[]string{"-cpu-profiles", "profiles"}, filepath.Join(must(os.Getwd()), "profiles")},
	} {
		o, err := parseFlags(tc.args)
		if err != nil || o.cpuProfiles != tc.want {
			t.Errorf("parseFlags(%q): cpuProfiles %q, %v; want %q", tc.args, o.cpuProfiles, err, tc.want)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
