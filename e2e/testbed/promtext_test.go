package testbed

import (
	"maps"
	"strings"
	"testing"
)

// TestParseSamples: names, labels (escapes included) and values of a scrape as
// kube-apiserver and client_golang write it; comments skipped; a broken line is an error.
func TestParseSamples(t *testing.T) {
	for _, tc := range []struct {
		name    string
		text    string
		want    []Sample
		wantErr bool
	}{
		{"no labels", "go_goroutines 42\n", []Sample{{"go_goroutines", map[string]string{}, 42}}, false},
		{"comments and blank lines are skipped", "# HELP x y\n# TYPE x counter\n\nx 1\n", []Sample{{"x", map[string]string{}, 1}}, false},
		{"labels", `apiserver_watch_events_total{group="discovery.k8s.io",resource="endpointslices",version="v1"} 1234` + "\n",
			[]Sample{{"apiserver_watch_events_total", map[string]string{"group": "discovery.k8s.io", "resource": "endpointslices", "version": "v1"}, 1234}}, false},
		{"escapes in a label value", `m{path="a\"b\\c\nd",x=""} 2.5e+06` + "\n",
			[]Sample{{"m", map[string]string{"path": "a\"b\\c\nd", "x": ""}, 2.5e6}}, false},
		{"a timestamp after the value", "m{a=\"1\"} 7 1712345678000\n", []Sample{{"m", map[string]string{"a": "1"}, 7}}, false},
		{"a trailing comma in the labels", "m{a=\"1\",} 3\n", []Sample{{"m", map[string]string{"a": "1"}, 3}}, false},
		{"no value", "m\n", nil, true},
		{"a value that is no number", "m{a=\"1\"} x\n", nil, true},
		{"an unterminated label value", "m{a=\"1} 3\n", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSamples(strings.NewReader(tc.text))
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseSamples error %v; want an error: %v", err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("ParseSamples = %+v; want %+v", got, tc.want)
			}
			for i := range got {
				if got[i].Name != tc.want[i].Name || got[i].Value != tc.want[i].Value || !maps.Equal(got[i].Labels, tc.want[i].Labels) {
					t.Errorf("sample %d = %+v; want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestSamplesSum: Sum adds the samples of a name whose labels match; SumBy groups them by a
// label.
func TestSamplesSum(t *testing.T) {
	s, err := ParseSamples(strings.NewReader(`w{resource="pods",version="v1"} 10
w{resource="endpointslices",version="v1"} 3
w{resource="pods",version="v2"} 5
other{resource="pods"} 100
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		match map[string]string
		want  float64
	}{
		{nil, 18},
		{map[string]string{"resource": "pods"}, 15},
		{map[string]string{"resource": "pods", "version": "v1"}, 10},
		{map[string]string{"resource": "services"}, 0},
	} {
		if got := s.Sum("w", tc.match); got != tc.want {
			t.Errorf("Sum(w, %v) = %v; want %v", tc.match, got, tc.want)
		}
	}
	if got, want := s.SumBy("w", "resource"), map[string]float64{"pods": 15, "endpointslices": 3}; !maps.Equal(got, want) {
		t.Errorf("SumBy(w, resource) = %v; want %v", got, want)
	}
}
