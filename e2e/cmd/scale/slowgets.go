package main

import (
	"fmt"
	"time"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
)

// slowGet is one of the slowest Gets of a rolling update, told in the pods' names: when it
// started after the update began, through which pod and in what state that pod was, the
// key's owner in that pod's ring, and who loaded the value.
type slowGet struct {
	At, Took time.Duration
	Key, Pod string
	// PodState is the pod's readiness as the Get started ("ready" since before the update,
	// "ready since +12.3 s", "not ready since +12.3 s": in a rolling update, its delete
	// began) and its first change during the Get, if any (", not ready 0.8 s into the Get").
	PodState       string
	Owner, Loader  string // pod names, or the peer id when no pod had it
	ServedBy, Fail string
}

// describeSlowGets tells each of gets in the pods' names: names maps peer ids to pod names,
// readiness each pod's readiness changes (testbed.Pod.ReadinessChanges); start is when the
// update began.
func describeSlowGets(gets []testbed.SlowGet, names map[string]string, readiness map[string][]testbed.ReadinessChange, start time.Time) []slowGet {
	var out []slowGet
	for _, g := range gets {
		s := slowGet{At: g.Start.Sub(start), Took: g.Took, Key: g.Key, Pod: g.Pod, PodState: "ready",
			Owner: nameOf(names, g.Result.Owner), Loader: g.Result.LoadedBy, ServedBy: g.Result.ServedBy}
		if g.Err != nil {
			s.Fail = g.Err.Error()
		}
		for _, rc := range readiness[g.Pod] {
			if into := rc.At.Sub(g.Start); into > 0 {
				if into < g.Took {
					s.PodState += fmt.Sprintf(", %s %.1f s into the Get", readyWord[rc.Ready], into.Seconds())
				}
				break
			}
			if since := rc.At.Sub(start); since >= 0 {
				s.PodState = fmt.Sprintf("%s since %+.1f s", readyWord[rc.Ready], since.Seconds())
			}
		}
		out = append(out, s)
	}
	return out
}

var readyWord = map[bool]string{true: "ready", false: "not ready"}

// nameOf returns the pod name of peer id, or id itself when no pod has it.
func nameOf(names map[string]string, id string) string {
	if n, ok := names[id]; ok {
		return n
	}
	return id
}
