package main

import "testing"

func TestParseMachine(t *testing.T) {
	cpuinfo := "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) Processor\n"
	if model, n := parseCPUInfo(cpuinfo); model != "Intel(R) Xeon(R) Processor" || n != 2 {
		t.Errorf("parseCPUInfo: %q, %d", model, n)
	}
	if model, n := parseCPUInfo(""); model != "unknown" || n != 0 {
		t.Errorf("parseCPUInfo of nothing: %q, %d", model, n)
	}
	if got := parseMemTotal("MemTotal:       25165824 kB\nMemFree:  1 kB\n"); got != "24 GiB" {
		t.Errorf("parseMemTotal: %q", got)
	}
	if got := parseMemTotal("MemFree: 1 kB\n"); got != "" {
		t.Errorf("parseMemTotal without MemTotal: %q", got)
	}
	if got := parseLoadAvg("0.35 1.02 1.57 2/345 6789\n"); got != "0.35 1.02 1.57" {
		t.Errorf("parseLoadAvg: %q", got)
	}
	if got := parseLoadAvg("0.35\n"); got != "unknown" {
		t.Errorf("parseLoadAvg of a short line: %q", got)
	}
}
