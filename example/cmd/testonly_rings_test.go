package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
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

// TestRingHistoryHandler: /testonly/rings?since=N answers with self, N and the rings after
// the first N; a since that is missing or not a count is a 400; a wait for a ring ends with
// none once the example shuts down.
func TestRingHistoryHandler(t *testing.T) {
	h := newRingHistory()
	h.add([]string{"a"})
	h.add([]string{"a", "b"})
	stop, shutdown := context.WithCancel(t.Context())
	srv := httptest.NewServer(h.handler(stop, "a"))
	defer srv.Close()

	var answer struct {
		Self  string
		Since int
		Rings [][]string
	}
	getJSON(t, srv.URL+"/?since=1", &answer)
	if answer.Self != "a" || answer.Since != 1 || len(answer.Rings) != 1 || !slices.Equal(answer.Rings[0], []string{"a", "b"}) {
		t.Errorf("since=1 = %+v; want self a, since 1 and the ring [a b]", answer)
	}
	for _, q := range []string{"", "?since=", "?since=-1", "?since=two"} {
		if resp, err := http.Get(srv.URL + "/" + q); err != nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET /%s: %v %v; want 400", q, resp, err)
		}
	}

	// Whether the shutdown comes before the request or while it waits, the answer is none.
	waiting := make(chan string)
	go func() {
		resp, err := http.Get(srv.URL + "/?since=2")
		if err != nil {
			waiting <- err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		waiting <- resp.Status + " " + strings.TrimSpace(string(body))
	}()
	shutdown()
	select {
	case got := <-waiting:
		if want := `200 OK {"rings":null,"self":"a","since":2}`; got != want {
			t.Errorf("since=2 at shutdown = %s; want %s", got, want)
		}
	case <-time.After(ringHistoryWait / 2):
		t.Fatal("a wait for a ring went on after shutdown")
	}
}

// TestExampleServesRingHistory: with TESTONLY_RING_HISTORY=on the example serves the rings
// its manager published at /testonly/rings.
func TestExampleServesRingHistory(t *testing.T) {
	e := startExample(t, map[string]string{"TESTONLY_RING_HISTORY": "on"})
	var history struct {
		Self  string
		Rings [][]string
	}
	getJSON(t, e.base+"/testonly/rings?since=0", &history)
	if history.Self != e.self || len(history.Rings) != 1 || !slices.Equal(history.Rings[0], []string{e.self}) {
		t.Errorf("/testonly/rings?since=0 = %+v; want self %s and the one ring published, [%[2]s]", history, e.self)
	}
	if resp, err := http.Get(e.base + "/testonly/rings?since=-1"); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("/testonly/rings?since=-1: %v %v; want 400", resp, err)
	}
	if err := e.stop(t); err != nil {
		t.Errorf("run after SIGTERM = %v", err)
	}
}
