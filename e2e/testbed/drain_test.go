package testbed

import (
	"testing"
	"time"
)

// TestDrainedIn: the last "drained" line of a JSON log is the drain; other lines, text logs
// and lines without the fields are not.
func TestDrainedIn(t *testing.T) {
	for _, tc := range []struct {
		name   string
		log    string
		want   Drain
		wantOK bool
	}{
		{"no drain (HANDOFF=off)", `{"level":"INFO","msg":"groupcache peers manager stopped"}` + "\n", Drain{}, false},
		{"empty", "", Drain{}, false},
		{"one drain", `{"time":"2026-01-02T03:04:05Z","level":"INFO","msg":"draining: serving peers until they stop asking","max":15000000000}
{"time":"2026-01-02T03:04:06Z","level":"INFO","msg":"drained","self":"192.0.2.10:8081","after":1512000000,"requests":4}
{"level":"INFO","msg":"groupcache peers manager stopped"}
`, Drain{After: 1512 * time.Millisecond, Requests: 4}, true},
		{"the last of two, among other output", `panic: not JSON
{"msg":"drained","after":1000000000,"requests":1}
WARNING: DATA RACE
{"msg":"drained","after":2000000000,"requests":0}`, Drain{After: 2 * time.Second}, true},
		{"a text log", `time=2026-01-02T03:04:06Z level=INFO msg=drained after=1.5s requests=4` + "\n", Drain{}, false},
		{"a drained line without its fields", `{"msg":"drained"}` + "\n", Drain{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := drainedIn(tc.log)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("drainedIn = %+v, %v; want %+v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
