package main

import (
	"reflect"
	"testing"
	"time"
)

func TestMembershipCommand(t *testing.T) {
	want := "cd e2e && go test -race -count=1 -timeout 30m -run '^TestHandoff' -v ."
	if got := membershipCommand(); got != want {
		t.Errorf("membershipCommand() = %q, want %q", got, want)
	}
}

func TestParseMembership(t *testing.T) {
	line := func(what string) string {
		return "    handoff_test.go:112: handoff: " + what + " reloaded 1 of 1000 keys with hand-off, 248 without, 270 with HTTPPool " +
			"(changes took 6.743s, 1m5.971s and 734ms; failed gets 0, 2 and 3)\n"
	}
	scaleUp := membershipCase{What: "scale-up 3 → 4", Keys: 1000,
		Handoff:   modeResult{Reloaded: 1, Took: 6743 * time.Millisecond},
		NoHandoff: modeResult{Reloaded: 248, Took: time.Minute + 5971*time.Millisecond, FailedGets: 2},
		HTTPPool:  modeResult{Reloaded: 270, Took: 734 * time.Millisecond, FailedGets: 3}}
	rolling := scaleUp
	rolling.What = "rolling update"
	for _, c := range []struct {
		name string
		out  string
		want *membershipRun
	}{
		{"passed", "=== RUN   TestHandoffScaleUp\n" + line("scale-up 3 → 4") + "--- PASS: TestHandoffScaleUp (26.97s)\n" +
			line("rolling update") + "PASS\nok  \tgithub.com/groupcache-k8s/k8s/e2e\t92.1s\n",
			&membershipRun{Cases: []membershipCase{scaleUp, rolling}, Passed: true}},
		{"a test failed", line("scale-up 3 → 4") + "    --- FAIL: TestHandoffScaleUp/with_hand-off (11.52s)\n" +
			"--- FAIL: TestHandoffScaleUp (26.97s)\nFAIL\nFAIL\tgithub.com/groupcache-k8s/k8s/e2e\t30.0s\n",
			&membershipRun{Cases: []membershipCase{scaleUp}, Failed: []string{"TestHandoffScaleUp/with_hand-off", "TestHandoffScaleUp"}}},
		{"cut short", "=== RUN   TestHandoffScaleUp\n", &membershipRun{}},
		{"the line of before HTTPPool is not read",
			"    handoff_test.go:85: handoff: rolling update reloaded 5 of 1000 keys with hand-off, 1433 without (changes took 1s and 2s)\n",
			&membershipRun{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseMembership([]byte(c.out))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
	bad := "handoff: x reloaded 1 of 1000 keys with hand-off, 2 without, 3 with HTTPPool (changes took 1q, 2s and 3s; failed gets 0, 0 and 0)"
	if _, err := parseMembership([]byte(bad)); err == nil {
		t.Error("a duration that does not parse: no error")
	}
}

func TestMembershipFind(t *testing.T) {
	m := &membershipRun{Cases: []membershipCase{{What: "scale-up 3 → 4"}, {What: "rolling update"}}}
	if c, ok := m.find("scale-up"); !ok || c.What != "scale-up 3 → 4" {
		t.Errorf("find(scale-up) = %+v, %v", c, ok)
	}
	if _, ok := m.find("scale-down"); ok {
		t.Error("find(scale-down) found a case")
	}
	if _, ok := (*membershipRun)(nil).find("rolling update"); ok {
		t.Error("a nil run found a case")
	}
}
