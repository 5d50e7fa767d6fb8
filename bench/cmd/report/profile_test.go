package main

import (
	"fmt"
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
