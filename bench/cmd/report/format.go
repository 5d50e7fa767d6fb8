package main

// Formatting figures for the tables and the text: times, rates, sizes, counts and ratios,
// each with "–" for a figure the run does not have.

import (
	"fmt"
	"math"
	"regexp"
	"strings"
)

// callersText is a RemoteGet case in words: "100B × 1 caller", "4MiB × 64 callers".
func callersText(size string, callers int) string {
	if callers == 1 {
		return size + " × 1 caller"
	}
	return fmt.Sprintf("%s × %d callers", size, callers)
}

var sizeUnit = regexp.MustCompile(`^(\d+)([KMG]?i?B)$`)

// sizeText spaces a value size as benchmarks name it: "4MiB" is "4 MiB".
func sizeText(size string) string {
	return sizeUnit.ReplaceAllString(size, "$1 $2")
}

// seconds prints a duration in the unit that suits it.
func seconds(s float64) string {
	switch {
	case s == 0:
		return "–"
	case s < 1e-6:
		return fmt.Sprintf("%.1f ns", s*1e9)
	case s < 1e-3:
		return fmt.Sprintf("%.1f µs", s*1e6)
	case s < 1:
		return fmt.Sprintf("%.2f ms", s*1e3)
	}
	return fmt.Sprintf("%.2f s", s)
}

// signed prints a difference with its sign, its size printed by abs: "+x", "−x" or "±0".
func signed(d float64, abs func(float64) string) string {
	switch {
	case d == 0:
		return "±0"
	case d < 0:
		return "−" + abs(-d)
	}
	return "+" + abs(d)
}

// signedSeconds prints a difference of durations with its sign: "+381.3 µs", "−2.0 µs".
func signedSeconds(d float64) string { return signed(d, seconds) }

// ms prints a duration in milliseconds, without the unit, to three significant figures
// or more.
func ms(s float64) string {
	if s == 0 {
		return "–"
	}
	switch {
	case s < 1e-3:
		return fmt.Sprintf("%.3f", s*1e3)
	case s < 1:
		return fmt.Sprintf("%.2f", s*1e3)
	}
	return fmt.Sprintf("%.0f", s*1e3)
}

// ci is " ± " and the confidence interval, or "" when benchstat has none (too few rounds).
func ci(c cell) string {
	if c.CI == "" || c.CI == "∞" {
		return ""
	}
	return " ± " + strings.TrimPrefix(c.CI, "±")
}

func timeCell(c cell) string {
	if c.Center == 0 {
		return "–"
	}
	return seconds(c.Center) + ci(c)
}

// rateCell prints bytes per second as MB/s.
func rateCell(c cell) string {
	if c.Center == 0 {
		return "–"
	}
	mb := c.Center / 1e6
	if mb < 10 {
		return fmt.Sprintf("%.2f MB/s", mb) + ci(c)
	}
	return fmt.Sprintf("%.0f MB/s", mb) + ci(c)
}

// unitCell prints the median of unit, row and impl with format, and its confidence
// interval: "49.6 ms ± 2%", or "–" when s has none.
func unitCell(s summary, format, unit, row, impl string) string {
	c, ok := s.get(unit, row, impl)
	if !ok {
		return "–"
	}
	return fmt.Sprintf(format, c.Center) + ci(c)
}

func bytesCell(s summary, row, impl string) string {
	c, ok := s.get("B/op", row, impl)
	switch {
	case !ok:
		return "–"
	case c.Center >= 1<<20:
		return fmt.Sprintf("%.1f MiB", c.Center/(1<<20))
	case c.Center >= 1<<10:
		return fmt.Sprintf("%.0f KiB", c.Center/(1<<10))
	}
	return fmt.Sprintf("%.0f B", c.Center)
}

// num prints a count: whole, or with one decimal when a median falls between two.
func num(s summary, unit, row, impl string) string {
	c, ok := s.get(unit, row, impl)
	if !ok {
		return "–"
	}
	return count(c.Center)
}

func count(x float64) string {
	if x == math.Trunc(x) || x >= 100 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.1f", x)
}

func ratioText(r float64) string {
	if r == 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return "–"
	}
	if r >= 10 {
		return fmt.Sprintf("%.0f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}

// ratio is a ÷ b.
func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return ratioText(a / b)
}

// sigRatio is c ÷ base, marked ~ when benchstat finds no significant difference (base
// is benchstat's base column, the first to appear).
func sigRatio(c cell, base float64) string {
	s := ratio(c.Center, base)
	if c.VsBase == "~" && s != "–" {
		s += " ~"
	}
	return s
}

// vsInformer is ours ÷ informer, marked ~ when benchstat finds no significant difference
// (ours is benchstat's base column, the first to appear).
func vsInformer(ours, informer cell) string {
	s := ratio(ours.Center, informer.Center)
	if informer.VsBase == "~" && s != "–" {
		s += " ~"
	}
	return s
}

// perPeer prints a count per peer to three significant figures: "2.01", "0.006", "3".
func perPeer(x float64) string { return fmt.Sprintf("%.3g", x) }

// perPeerBytes prints bytes per peer: "565 B", "10.2 KiB".
func perPeerBytes(x float64) string {
	if math.Abs(x) < 1<<10 {
		return fmt.Sprintf("%.0f B", x)
	}
	return fmt.Sprintf("%.1f KiB", x/(1<<10))
}

// perPeerCell is perPeer of the median of unit, row and impl, or "–" when s has none.
func perPeerCell(s summary, unit, row, impl string) string {
	c, ok := s.get(unit, row, impl)
	if !ok {
		return "–"
	}
	return perPeer(c.Center)
}

// perPeerBytesCell is perPeerBytes of the median of unit, row and impl, or "–".
func perPeerBytesCell(s summary, unit, row, impl string) string {
	c, ok := s.get(unit, row, impl)
	if !ok {
		return "–"
	}
	return perPeerBytes(c.Center)
}

// formatCell prints the median of unit, row and impl with format, or "–" when s has none.
func formatCell(s summary, format func(float64) string, unit, row, impl string) string {
	c, ok := s.get(unit, row, impl)
	if !ok {
		return "–"
	}
	return format(c.Center)
}

// threeFigures prints a count to three significant figures: "6.15", "0.335".
func threeFigures(x float64) string { return fmt.Sprintf("%.3g", x) }

// signedCount prints a difference of counts with its sign, to three significant figures:
// "+0.12", "−1.05", "±0".
func signedCount(d float64) string { return signed(d, threeFigures) }

// micros prints a duration in microseconds, without the unit, to three significant
// figures or more, two decimals at most: "0.85", "9.50", "41.2", "1520".
func micros(s float64) string {
	us := s * 1e6
	switch {
	case us < 10:
		return fmt.Sprintf("%.2f", us)
	case us < 100:
		return fmt.Sprintf("%.1f", us)
	}
	return fmt.Sprintf("%.0f", us)
}

// signedMicros prints a difference of durations in microseconds, without the unit, with
// its sign: "+9.50", "−12.3", "±0".
func signedMicros(d float64) string { return signed(d, micros) }

// byteSize prints bytes in MiB, KiB or B: "64 MiB", "64.1 MiB", "36 KiB", or "–" for none.
func byteSize(b float64) string {
	switch {
	case b == 0:
		return "–"
	case b >= 1<<20 && b == math.Trunc(b/(1<<20))*(1<<20):
		return fmt.Sprintf("%.0f MiB", b/(1<<20))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.0f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

// mibPerSecond prints b bytes over s seconds in MiB/s: "18.2 MiB/s", or "–".
func mibPerSecond(b, s float64) string {
	if b == 0 || s == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f MiB/s", b/(1<<20)/s)
}
