package main

import (
	"fmt"
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
