package main

import (
	"io"
	"testing"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := options{out: "../BENCHMARKS.md", results: "results", rounds: 6, pickerTime: "200ms", remoteTime: "500ms",
		profile: true, watchers: 3}
	if o != want {
		t.Errorf("defaults %+v, want %+v (what make bench runs)", o, want)
	}
	o, err = parseFlags([]string{"-render-only", "-results", "testdata/results", "-out", "x.md"}, io.Discard)
	if err != nil || !o.renderOnly || o.results != "testdata/results" || o.out != "x.md" {
		t.Errorf("-render-only -results -out: %+v, %v", o, err)
	}
	if o, err = parseFlags([]string{"-skip-e2e"}, io.Discard); err != nil || !o.skipE2E {
		t.Errorf("-skip-e2e: %+v, %v", o, err)
	}
	for _, args := range [][]string{{"-rounds", "x"}, {"stray"}} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
