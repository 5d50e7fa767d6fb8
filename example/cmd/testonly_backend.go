package main

// The backend's test keys (TESTONLY_BACKEND_KEYS=on), for the end-to-end tests: keys that
// take the backend a while, and keys it does not have. A real service's backend would have
// neither.

import (
	"context"
	"errors"
	"strings"
	"time"
)

// The prefixes of the test keys.
const (
	slowKeyPrefix    = "slow-"    // the backend takes slowKeyLoad to load these
	missingKeyPrefix = "missing-" // the backend has no record of these
	slowKeyLoad      = 3 * time.Second
)

// errNoRecord is the backend's answer for a key it does not have.
var errNoRecord = errors.New("example backend: no such record")

// testBackend is what the backend does for key before it answers with its value: with the
// test keys on, it waits slowKeyLoad for a slow key (or until ctx ends) and fails for a
// missing one; otherwise nothing.
func testBackend(ctx context.Context, on bool, key string) error {
	switch {
	case !on:
		return nil
	case strings.HasPrefix(key, missingKeyPrefix):
		return errNoRecord
	case strings.HasPrefix(key, slowKeyPrefix):
		t := time.NewTimer(slowKeyLoad)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
