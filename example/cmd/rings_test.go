package main

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestRingHistory: since returns the rings after the first n at once when there are
// some, waits for the next one otherwise, and returns none when its context ends.
func TestRingHistory(t *testing.T) {
	h := newRingHistory()
	h.add([]string{"a"})
	h.add([]string{"a", "b"})
	tests := []struct {
		n    int
		want [][]string
	}{
		{0, [][]string{{"a"}, {"a", "b"}}},
		{1, [][]string{{"a", "b"}}},
	}
	for _, tt := range tests {
		if got := h.since(t.Context(), tt.n); !slices.EqualFunc(got, tt.want, slices.Equal) {
			t.Errorf("since(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}

	next := make(chan [][]string)
	go func() { next <- h.since(t.Context(), 2) }()
	h.add([]string{"b"})
	if got := <-next; len(got) != 1 || !slices.Equal(got[0], []string{"b"}) {
		t.Errorf("since(2) after a change = %v, want [[b]]", got)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if got := h.since(ctx, 3); got != nil {
		t.Errorf("since(3) with no change before the context ended = %v, want none", got)
	}
}
