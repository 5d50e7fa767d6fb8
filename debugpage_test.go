package k8s

// Tests of the operator page: HTML and JSON, the key form, the ring's shares, escaping.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang/groupcache"
	"github.com/golang/groupcache/groupcachepb"
	"github.com/groupcache-k8s/k8s/internal/fakeapi"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// leavingEndpoint is an endpoint of a pod that is terminating but still serving.
func leavingEndpoint(addr string) discoveryv1.Endpoint {
	e := apiEndpoint(addr, no, yes)
	e.Conditions.Serving = yes
	return e
}

func TestDebugPage(t *testing.T) {
	stream := fakeapi.Listing(10, apiSlice("cache-x1", "IPv4",
		apiEndpoint("10.0.0.1", yes, no), apiEndpoint("10.0.0.2", yes, no), leavingEndpoint("10.0.0.3")))
	stream.Watches = []fakeapi.Answer{{Status: 503}}
	m, _ := startManager(t, stream, "10.0.0.1:8080", WithCallTimeout(50*time.Millisecond))
	// One call to 10.0.0.2, which nothing answers: the page counts a call and an error.
	if peer, ok := m.PickPeer(keyOwnedBy(t, m.router.snapshot(), "10.0.0.2:8080")); !ok || peer.Get(t.Context(), getRequest("g", "k"), &groupcachepb.GetResponse{}) == nil {
		t.Fatal("the call to 10.0.0.2 did not fail")
	}
	// 10.0.0.2 stopped answering: the page shows it.
	m.router.snapshot().clients["10.0.0.2:8080"].(*peerClient).health.markUnavailable()
	hostile := `<script>alert("g")</script>`
	group := m.NewGroup(hostile, 1<<20, groupcache.GetterFunc(func(_ context.Context, key string, dest groupcache.Sink) error {
		return dest.SetString("secret value of " + key)
	}))
	var v string
	if err := group.Get(t.Context(), "cached-key", groupcache.StringSink(&v)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.DebugHandler())
	defer srv.Close()
	get := func(path string, header http.Header) (string, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		return resp.Header.Get("Content-Type"), string(body)
	}
	hostileKey := `<img src=x onerror=alert(1)>`
	ownerOfHostile := m.Owner(hostileKey)

	cases := []struct {
		name     string
		path     string
		accept   string
		wantJSON bool
		want     []string // in the body
		never    []string // never in the body
	}{
		{name: "HTML: the ring, this pod, the leaving peer, the group", path: "/",
			want: []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", "this pod", "leaving", "not answering",
				"&lt;script&gt;", "resourceVersion", "peers marked unavailable"},
			never: []string{"<script>", "secret value", "cached-key"}},
		{name: "HTML: the key form answers, escaped", path: "/?key=" + url.QueryEscape(hostileKey),
			want:  []string{"&lt;img src=x onerror=alert(1)&gt;", "<strong>" + ownerOfHostile + "</strong>"},
			never: []string{hostileKey, "secret value"}},
		{name: "JSON by ?format=json", path: "/?format=json", wantJSON: true, want: []string{`"SharePercent"`}},
		{name: "JSON by Accept", path: "/", accept: "application/json, text/html;q=0.5", wantJSON: true},
		{name: "HTML when the browser prefers it", path: "/", accept: "text/html,application/json;q=0.9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			header := http.Header{}
			if tc.accept != "" {
				header.Set("Accept", tc.accept)
			}
			ctype, body := get(tc.path, header)
			if isJSON := strings.HasPrefix(ctype, "application/json"); isJSON != tc.wantJSON {
				t.Fatalf("Content-Type %q; want JSON: %v", ctype, tc.wantJSON)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("the page lacks %q:\n%s", w, body)
				}
			}
			for _, n := range tc.never {
				if strings.Contains(body, n) {
					t.Errorf("the page shows %q", n)
				}
			}
		})
	}

	waitUntil(t, "the watch's failure recorded", func() bool { return m.stats.lastError.Load() != nil })
	_, body := get("/?format=json&key=k1", nil)
	var st debugState
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, p := range st.Peers {
		total += p.SharePercent
		if p.Leaving != (p.ID == "10.0.0.3:8080") || p.Self != (p.ID == "10.0.0.1:8080") || p.Unavailable != (p.ID == "10.0.0.2:8080") {
			t.Errorf("peer %+v marked wrongly", p)
		}
	}
	for _, p := range st.Peers {
		if wantCalls := int64(map[bool]int{true: 1}[p.ID == "10.0.0.2:8080"]); p.Calls != wantCalls || p.Errors != wantCalls {
			t.Errorf("peer %s: %d calls, %d errors; want %d of each", p.ID, p.Calls, p.Errors, wantCalls)
		}
		// Self has no connection; a peer this pod never called has none open.
		if want := map[string]string{"10.0.0.1:8080": "", "10.0.0.3:8080": "not open"}[p.ID]; p.ID != "10.0.0.2:8080" && p.Connection != want {
			t.Errorf("peer %s: connection %q, want %q", p.ID, p.Connection, want)
		}
	}
	if total < 99.999 || total > 100.001 {
		t.Errorf("shares add up to %v %%, want 100", total)
	}
	if e := st.Watch.LastError; e == nil || !strings.Contains(e.Error, "watch") || e.At.IsZero() {
		t.Errorf("the watch's last error = %+v; want the 503 of the watch", e)
	}
	if st.Owner != m.Owner("k1") || st.Key != "k1" || st.Watch.ResourceVersion != "10" || len(st.Groups) != 1 ||
		st.Groups[0].Name != hostile || st.Groups[0].Main.Items != 1 {
		t.Errorf("JSON state %+v", st)
	}

	resp, err := srv.Client().Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s; want 405", resp.Status)
	}
}
