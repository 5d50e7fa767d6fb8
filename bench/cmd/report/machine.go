package main

// The machine and the run: CPU, memory, kernel, Go, load average, and the run's settings,
// kept in results/run.json so that a re-render states the machine the figures came from.

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// runInfo describes the machine and the run.
type runInfo struct {
	CPU        string
	CPUs       int
	Memory     string
	Kernel     string
	GoVersion  string
	Rounds     int
	PickerTime string
	RemoteTime string
	LoadBefore string
	LoadAfter  string
	Seconds    float64 // the whole run, profiles included
	Baseline   string  // the commit whose code ran as the baseline (baseline.go), in full; "" when none did
}

// machineInfo reads this machine's facts from /proc and go version; a fact it cannot
// read stays empty (the CPU "unknown").
func machineInfo() runInfo {
	info := runInfo{CPU: "unknown", CPUs: runtime.NumCPU()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		var n int
		if info.CPU, n = parseCPUInfo(string(data)); n > 0 {
			info.CPUs = n
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		info.Memory = parseMemTotal(string(data))
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		info.Kernel = strings.TrimSpace(string(data))
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		info.GoVersion = strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	}
	return info
}

// parseCPUInfo is the model name and the number of processors in /proc/cpuinfo.
func parseCPUInfo(data string) (model string, n int) {
	model = "unknown"
	for _, line := range strings.Split(data, "\n") {
		k, v, _ := strings.Cut(line, ":")
		switch strings.TrimSpace(k) {
		case "model name":
			model = strings.TrimSpace(v)
		case "processor":
			n++
		}
	}
	return model, n
}

// parseMemTotal is MemTotal of /proc/meminfo in whole GiB, or "" when it has none.
func parseMemTotal(data string) string {
	for _, line := range strings.Split(data, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			if kb, err := strconv.Atoi(f[1]); err == nil {
				return fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
			}
		}
	}
	return ""
}

// loadAverage is the 1, 5 and 15 minute load average.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return parseLoadAvg(string(data))
}

// parseLoadAvg is the first three fields of /proc/loadavg, or "unknown".
func parseLoadAvg(data string) string {
	f := strings.Fields(data)
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
