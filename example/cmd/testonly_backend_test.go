package main

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestTestBackend: what the backend does for each kind of key.
func TestTestBackend(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		off     bool // the test keys are off
		key     string
		wantErr error
		minTook time.Duration
	}{
		{"an ordinary key", context.Background(), false, "user:1", nil, 0},
		{"a missing key", context.Background(), false, "missing-1", errNoRecord, 0},
		{"a slow key waits", context.Background(), false, "slow-1", nil, slowKeyLoad},
		{"a slow key whose caller gave up", cancelled, false, "slow-2", context.Canceled, 0},
		{"a missing key with the test keys off", context.Background(), true, "missing-1", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := testBackend(tt.ctx, !tt.off, tt.key)
			if !errors.Is(err, tt.wantErr) || time.Since(start) < tt.minTook {
				t.Errorf("testBackend(%q) = %v after %v; want %v after at least %v", tt.key, err, time.Since(start), tt.wantErr, tt.minTook)
			}
		})
	}
}
