package main

// Reading the results back: machine facts, benchstat's CSV summaries, and the picker
// quality figures that TestPickerQuality wrote.

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
}

func machineInfo() runInfo {
	info := runInfo{CPU: "unknown", CPUs: runtime.NumCPU()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n := 0
		for _, line := range strings.Split(string(data), "\n") {
			k, v, _ := strings.Cut(line, ":")
			switch strings.TrimSpace(k) {
			case "model name":
				info.CPU = strings.TrimSpace(v)
			case "processor":
				n++
			}
		}
		if n > 0 {
			info.CPUs = n
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.Atoi(f[1]); err == nil {
					info.Memory = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		info.Kernel = strings.TrimSpace(string(data))
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		info.GoVersion = strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	}
	return info
}

// loadAverage is the 1, 5 and 15 minute load average.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// Quality is what TestPickerQuality measured at one size (quality_test.go).
type Quality struct {
	N                int
	Exact            bool
	BusiestOursExact float64
	BusiestOursKeys  float64
	BusiestCHExact   float64
	BusiestCHKeys    float64
	Leave, Join      Moves
}

type Moves struct {
	OursMovedN, CHMovedN       float64
	OursSpurious, CHSpurious   float64
	OursSpuriousMean           float64
	OursMovedNMax, CHMovedNMax float64
}

// cell is one benchstat summary: the median and its confidence interval, and for
// columns other than the first the change against the first and its p-value ("~" when
// the difference is not significant).
type cell struct {
	Center float64
	CI     string
	VsBase string
	P      string
}

// summary holds benchstat's cells by unit, row ("PickPeer/N=3") and column (impl).
type summary map[string]map[string]map[string]cell

func (s summary) get(unit, row, impl string) (cell, bool) {
	c, ok := s[unit][row][impl]
	return c, ok
}

var procSuffix = regexp.MustCompile(`-\d+$`)

// benchstatCSV summarises raw with benchstat -col /impl and parses its CSV tables.
func benchstatCSV(raw string) (summary, error) {
	out, err := quietCommand("", nil, "go", "run", benchstatCmd, "-col", "/impl", "-format", "csv", raw) // warnings go to stderr
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(bytes.NewReader(out))
	r.FieldsPerRecord = -1
	records, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("benchstat's CSV: %w", err)
	}
	s := make(summary)
	type column struct {
		impl string
		at   int
	}
	var cols []column
	var unit string
	units := false // the next record names the units
	for _, rec := range records {
		switch {
		case len(rec) < 2:
			continue // a configuration line such as "goos: linux"
		case rec[0] == "" && units:
			unit, units = rec[cols[0].at], false
			if s[unit] == nil {
				s[unit] = make(map[string]map[string]cell)
			}
		case rec[0] == "":
			cols, units = nil, true
			for i, f := range rec {
				if f != "" {
					cols = append(cols, column{impl: f, at: i})
				}
			}
		case rec[0] == "geomean" || unit == "":
			continue
		default:
			row := procSuffix.ReplaceAllString(rec[0], "")
			for i, c := range cols {
				if c.at >= len(rec) || rec[c.at] == "" {
					continue
				}
				v, err := strconv.ParseFloat(rec[c.at], 64)
				if err != nil {
					continue
				}
				x := cell{Center: v}
				if c.at+1 < len(rec) {
					x.CI = rec[c.at+1]
				}
				if i > 0 && c.at+3 < len(rec) {
					x.VsBase, x.P = rec[c.at+2], rec[c.at+3]
				}
				if s[unit][row] == nil {
					s[unit][row] = make(map[string]cell)
				}
				s[unit][row][c.impl] = x
			}
		}
	}
	return s, nil
}

// results is everything the report is rendered from.
type results struct {
	info           runInfo
	picker, remote summary
	watchers       summary // nil when part 3 was not run
	quality        []Quality
	profiles       []byte
}

func loadResults(info runInfo) (*results, error) {
	r := &results{info: info}
	var err error
	if r.picker, err = benchstatCSV(filepath.Join(resultsDir, pickerRaw)); err != nil {
		return nil, err
	}
	if r.remote, err = benchstatCSV(filepath.Join(resultsDir, remoteRaw)); err != nil {
		return nil, err
	}
	if err := readJSON(filepath.Join(resultsDir, qualityJSON), &r.quality); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(resultsDir, watchersRaw)); err == nil {
		if r.watchers, err = benchstatCSV(filepath.Join(resultsDir, watchersRaw)); err != nil {
			return nil, err
		}
	}
	return r, nil
}
