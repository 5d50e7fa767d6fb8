package testbed

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sample is one line of a Prometheus text exposition: a metric name, its labels, its value.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Samples are a scrape, in the order of its lines.
type Samples []Sample

// Sum adds the values of every sample named name whose labels include match (nil matches
// all).
func (s Samples) Sum(name string, match map[string]string) float64 {
	var total float64
	for _, x := range s {
		if x.Name == name && hasLabels(x.Labels, match) {
			total += x.Value
		}
	}
	return total
}

// SumBy adds the values of every sample named name, grouped by the value of label.
func (s Samples) SumBy(name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, x := range s {
		if x.Name == name {
			out[x.Labels[label]] += x.Value
		}
	}
	return out
}

func hasLabels(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// ParseSamples reads a Prometheus text exposition (version 0.0.4): comments and blank lines
// are skipped; a line it cannot read is an error that quotes it.
func ParseSamples(r io.Reader) (Samples, error) {
	var out Samples
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64<<10), 1<<20)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("metrics: %w in %q", err, line)
		}
		out = append(out, s)
	}
	return out, scanner.Err()
}

// parseSample reads one line: name{label="value",...} value [timestamp].
func parseSample(line string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	rest := line
	i := strings.IndexAny(rest, "{ ")
	if i < 0 {
		return s, fmt.Errorf("no value")
	}
	s.Name, rest = rest[:i], rest[i:]
	if strings.HasPrefix(rest, "{") {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, " ,")
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, `="`)
			if eq < 0 {
				return s, fmt.Errorf("a label without a quoted value")
			}
			name := rest[:eq]
			rest = rest[eq+2:]
			var value strings.Builder
			closed := false
			for i := 0; i < len(rest); i++ {
				c := rest[i]
				if c == '\\' && i+1 < len(rest) {
					i++
					switch rest[i] {
					case 'n':
						value.WriteByte('\n')
					default:
						value.WriteByte(rest[i])
					}
					continue
				}
				if c == '"' {
					rest, closed = rest[i+1:], true
					break
				}
				value.WriteByte(c)
			}
			if !closed {
				return s, fmt.Errorf("an unterminated label value")
			}
			s.Labels[name] = value.String()
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return s, fmt.Errorf("no value")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, fmt.Errorf("value: %v", err)
	}
	s.Value = v
	return s, nil
}

// scrape reads url's Prometheus metrics with client, with token as a bearer token if set.
func scrape(ctx context.Context, client *http.Client, url, token string) (Samples, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return ParseSamples(resp.Body)
}

// APIMetrics scrapes kube-apiserver's own /metrics.
func (c *Cluster) APIMetrics(ctx context.Context) (Samples, error) {
	client, err := c.httpClient()
	if err != nil {
		return nil, err
	}
	client.Timeout = 30 * time.Second
	return scrape(ctx, client, "https://"+APIServerAddr+"/metrics", c.adminToken)
}
