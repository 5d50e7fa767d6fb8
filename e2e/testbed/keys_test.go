package testbed

import (
	"net/http"
	"slices"
	"testing"
)

func TestKeys(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		n      int
		want   []string
	}{
		{"user:", 0, []string{}},
		{"user:", 3, []string{"user:0", "user:1", "user:2"}},
		{"scale-", 2, []string{"scale-0", "scale-1"}},
		{"", 2, []string{"0", "1"}},
	} {
		if got := Keys(tc.prefix, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("Keys(%q, %d) = %v, want %v", tc.prefix, tc.n, got, tc.want)
		}
	}
	keys := Keys("k-", 1000)
	if got := keys[999]; got != "k-999" {
		t.Errorf("Keys(k-, 1000)[999] = %q, want k-999", got)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(keys)))) != len(keys) {
		t.Error("Keys returned a key twice")
	}
}

// TestMutualKeys: a key counts only if each pod's ring names the other as its owner; the first
// n such keys in the order of candidates, or an error if there are fewer.
func TestMutualKeys(t *testing.T) {
	// rings holds each pod's owner of each key, by pod name; "" is a key it owns itself.
	rings := map[string]map[string]string{
		"x": {"k-0": "y", "k-1": "y", "k-2": "", "k-3": "y", "k-4": "y"},
		"y": {"k-0": "x", "k-1": "", "k-2": "x", "k-3": "x", "k-4": "x"},
	}
	pods := map[string]*Pod{}
	for _, name := range []string{"x", "y"} {
		pods[name] = fakeExample(t, name, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			owner := pods[rings[name][r.URL.Query().Get("key")]]
			if owner == nil {
				owner = pods[name]
			}
			writeJSON(w, map[string]string{"owner": owner.GroupcacheAddr()})
		}))
	}
	candidates := Keys("k-", 5)
	for _, tc := range []struct {
		n       int
		want    []string
		wantErr string
	}{
		{1, []string{"k-0"}, ""},
		{2, []string{"k-0", "k-3"}, ""}, // k-1: y keeps it; k-2: x keeps it
		{3, []string{"k-0", "k-3", "k-4"}, ""},
		{4, nil, "only 3 of 5 keys are owned crosswise by x and y; want 4"},
	} {
		got, err := MutualKeys(t.Context(), pods["x"], pods["y"], candidates, tc.n)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("MutualKeys(n=%d) = %v, %v; want error %q", tc.n, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("MutualKeys(n=%d) = %v, %v; want %v", tc.n, got, err, tc.want)
		}
	}
}
