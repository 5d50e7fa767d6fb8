package main

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestWorstTransport(t *testing.T) {
	r := goodResults() // ours ahead everywhere
	if small, large := worstTransport(r); small != "" || large != "" {
		t.Errorf("ours ahead everywhere: %q, %q; want none", small, large)
	}
	set := func(size string, callers int, ours float64) {
		r.remote.put("B/s", fmt.Sprintf("RemoteGet/size=%s/callers=%d", size, callers), "grpc", cell{Center: ours})
	}
	set("100B", 1, 80e6)
	set("4KiB", 64, 70e6)
	set("4MiB", 64, 90e6)
	small, large := worstTransport(r)
	if small != "RemoteGet/size=4KiB/callers=64" || large != "RemoteGet/size=4MiB/callers=64" {
		t.Errorf("got %q, %q", small, large)
	}
}

func TestPprofTable(t *testing.T) {
	out := "File: bench.test\nType: cpu\nDuration: 3.26s, Total samples = 3.24s (99.36%)\n" +
		"Showing nodes accounting for 3s\n      flat  flat%   sum%        cum   cum%\n" +
		"        1s 30.86% 30.86%         1s 30.86%  runtime.memmove\n\n"
	want := "Duration: 3.26s, Total samples = 3.24s (99.36%)\n      flat  flat%   sum%        cum   cum%\n" +
		"        1s 30.86% 30.86%         1s 30.86%  runtime.memmove\n"
	if got := pprofTable(out); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestPeerCostMisses(t *testing.T) {
	row := peerCostRow(costPeers)
	for _, c := range []struct {
		name string
		edit func(r *results)
		want []string
	}{
		{"goal met", func(r *results) {}, nil},
		{"at the limits", func(r *results) {
			r.peerCost.put("used-goroutines/peer", row, "grpc", cell{Center: costGoroutine})
			r.peerCost.put("used-heap-B/peer", row, "grpc", cell{Center: costHeap})
		}, nil},
		{"goroutines after the Gets", func(r *results) {
			r.peerCost.put("used-goroutines/peer", row, "grpc", cell{Center: 2.01})
		}, []string{"used"}},
		{"heap after the Gets", func(r *results) {
			r.peerCost.put("used-heap-B/peer", row, "grpc", cell{Center: 10442})
		}, []string{"used"}},
		{"heap before traffic", func(r *results) {
			r.peerCost.put("idle-heap-B/peer", row, "grpc", cell{Center: 9000})
		}, []string{"idle"}},
		{"both readings, in their order", func(r *results) {
			r.peerCost.put("used-heap-B/peer", row, "grpc", cell{Center: 10442})
			r.peerCost.put("idle-goroutines/peer", row, "grpc", cell{Center: 3})
		}, []string{"idle", "used"}},
		{"HTTPPool's, the server side and smaller Services do not count", func(r *results) {
			r.peerCost.put("used-heap-B/peer", row, "httppool", cell{Center: 20000})
			r.peerCost.put("srv-goroutines/peer", row, "grpc", cell{Center: 3})
			r.peerCost.put("used-goroutines/peer", peerCostRow(10), "grpc", cell{Center: 3})
		}, nil},
		{"not measured", func(r *results) { r.peerCost = nil }, nil},
		{"a figure missing", func(r *results) {
			r.peerCost.drop("used-heap-B/peer", row, "grpc")
		}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := goodResults()
			c.edit(r)
			if got := peerCostMisses(r.peerCost); !slices.Equal(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestWritePeerCostProfiles(t *testing.T) {
	heading := "### PeerCost/N=1000, impl=grpc — where the pod's heap per peer goes\n\n"
	used := "In-use heap that a Get to every peer (a connection to each) added, all 1000 peers together: " +
		"the pod's used reading less its idle one, every allocation recorded " +
		"(`go tool pprof -sample_index=inuse_space -top -prune_from='^runtime\\.malg$'`, `-base` the idle reading's profile); " +
		"`runtime.malg` is new goroutines' descriptors, whose stacks are not heap:\n\n```\nused table\n```\n\n"
	idle := "In-use heap that knowing every peer (before traffic) added, all 1000 peers together: " +
		"the pod's idle reading less its base one,"
	for _, c := range []struct {
		name  string
		tops  map[string]string
		want  []string
		lacks []string
	}{
		{"after the Gets", map[string]string{"used": "used table\n"}, []string{heading + used}, []string{idle}},
		{"both, before traffic first", map[string]string{"used": "used table\n", "idle": "idle table\n"},
			[]string{heading + idle, "```\nidle table\n```\n\n" + used}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var md bytes.Buffer
			writePeerCostProfiles(&md, c.tops)
			for _, s := range c.want {
				if !strings.Contains(md.String(), s) {
					t.Errorf("got\n%s\nwant it to hold\n%s", md.String(), s)
				}
			}
			for _, s := range c.lacks {
				if strings.Contains(md.String(), s) {
					t.Errorf("got\n%s\nwant it without\n%s", md.String(), s)
				}
			}
		})
	}
}
