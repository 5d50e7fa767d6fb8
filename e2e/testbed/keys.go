package testbed

import (
	"context"
	"fmt"
	"strconv"
)

// Keys returns n keys: prefix followed by 0 to n-1, so Keys("user:", 2) is user:0 and user:1.
func Keys(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = prefix + strconv.Itoa(i)
	}
	return keys
}

// MutualKeys returns the first n of candidates that x's ring gives to y and y's ring to x,
// asking each pod's own ring (/owner, which loads nothing). Rings that disagree are needed
// for such keys; with fewer than n among candidates it returns an error.
func MutualKeys(ctx context.Context, x, y *Pod, candidates []string, n int) ([]string, error) {
	var keys []string
	for _, key := range candidates {
		owner, err := x.Owner(ctx, key)
		if err != nil {
			return nil, err
		}
		if owner != y.PeerID() {
			continue
		}
		if owner, err = y.Owner(ctx, key); err != nil {
			return nil, err
		}
		if owner == x.PeerID() {
			if keys = append(keys, key); len(keys) == n {
				return keys, nil
			}
		}
	}
	return nil, fmt.Errorf("only %d of %d keys are owned crosswise by %s and %s; want %d", len(keys), len(candidates), x.Name, y.Name, n)
}
