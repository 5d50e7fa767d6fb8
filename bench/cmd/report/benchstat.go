package main

// benchstat: the command that summarises the rounds, the arguments the report gives it,
// and the reading of its CSV tables into cells by unit, row and column.

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// benchstatCmd is the benchstat the report uses, from the module proxy.
const benchstatCmd = "golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da"

// The significance level and the confidence level the report asks benchstat for (its
// defaults, passed explicitly because the report's text quotes them).
const (
	benchstatAlpha      = 0.05
	benchstatConfidence = 0.95
)

// benchstatArgs are the arguments of go that summarise raw, one column per impl, in
// format ("text" or "csv").
func benchstatArgs(raw, format string) []string {
	return []string{"run", benchstatCmd,
		"-alpha", strconv.FormatFloat(benchstatAlpha, 'g', -1, 64),
		"-confidence", strconv.FormatFloat(benchstatConfidence, 'g', -1, 64),
		"-col", "/impl", "-format", format, raw}
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

// get is the cell of unit, row and impl, and false when the run has none.
func (s summary) get(unit, row, impl string) (cell, bool) {
	c, ok := s[unit][row][impl]
	return c, ok
}

// measured reports whether s has a figure in unit of any row of bench ("RemoteGet"): false
// for results that predate the unit.
func measured(s summary, unit, bench string) bool {
	for row := range s[unit] {
		if strings.HasPrefix(row, bench+"/") {
			return true
		}
	}
	return false
}

// benchstatCSV summarises raw with benchstat and parses its CSV tables.
func benchstatCSV(raw string) (summary, error) {
	out, err := quietCommand("", nil, "go", benchstatArgs(raw, "csv")...) // warnings go to stderr
	if err != nil {
		return nil, err
	}
	return parseBenchstatCSV(out)
}

var procSuffix = regexp.MustCompile(`-\d+$`)

// parseBenchstatCSV reads benchstat -col /impl -format csv: per unit, a header of impls,
// a header of units, then a row per benchmark (its -GOMAXPROCS suffix dropped) and a
// geomean, which is skipped. Configuration lines and unparsable figures are skipped too.
func parseBenchstatCSV(out []byte) (summary, error) {
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
