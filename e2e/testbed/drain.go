package testbed

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// Drain is what the example's manager logged when its drain at shutdown ended.
type Drain struct {
	After    time.Duration // how long it drained
	Requests int64         // peers' Gets and peeks served meanwhile
}

func (d Drain) String() string {
	return fmt.Sprintf("drained %s, %d peer requests meanwhile", d.After.Round(time.Millisecond), d.Requests)
}

// Drained returns the drain the pod's log reports (the manager's "drained" line); false if
// there is none, as with HANDOFF=off.
func (p *Pod) Drained() (Drain, bool) {
	data, err := os.ReadFile(p.proc.logPath)
	if err != nil {
		return Drain{}, false
	}
	return drainedIn(string(data))
}

// drainedIn finds the last "drained" line of a JSON log (LOG_FORMAT=json, where slog writes
// durations as nanoseconds).
func drainedIn(log string) (Drain, bool) {
	var found Drain
	ok := false
	for line := range strings.Lines(log) {
		var entry struct {
			Msg      string `json:"msg"`
			After    *int64 `json:"after"`
			Requests *int64 `json:"requests"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Msg != "drained" || entry.After == nil || entry.Requests == nil {
			continue
		}
		found, ok = Drain{After: time.Duration(*entry.After), Requests: *entry.Requests}, true
	}
	return found, ok
}
