package k8s

// The operator page: the ring, the watch, the peers and the groups of one manager, as
// HTML or JSON, for an internal port.

import (
	_ "embed"
	"encoding/json"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang/groupcache"
	"google.golang.org/grpc/connectivity"
)

// DebugHandler returns an operator page for the manager, to serve on an internal port
// (such as at /debug/groupcache): the ring (each member's share of the keys, this pod
// and leaving peers marked), who owns a key asked in its form (?key=), the watch's state
// (last sync, resourceVersion, restarts, relists, last error), the calls and errors to
// each peer, and the counters of the groups made with NewGroup and of the groups named.
// ?format=json, or an Accept header that prefers application/json, gives the same as
// JSON. The page has no external assets and no JavaScript, and shows no cached values
// and no key but the one asked about.
func (m *PeersManager) DebugHandler(groups ...string) http.Handler {
	return debugPage{m: m, groups: groups}
}

type debugPage struct {
	m      *PeersManager
	groups []string
}

// debugState is what the page shows.
type debugState struct {
	Self   string
	Key    string `json:",omitempty"` // the key asked about, and its owner
	Owner  string `json:",omitempty"`
	Peers  []debugPeer
	Watch  debugWatch
	Stats  Stats
	Groups []debugGroup
}

type debugPeer struct {
	ID            string
	SharePercent  float64 // of all keys; 0 for a leaving peer
	Self, Leaving bool
	Calls, Errors int64  // Gets this pod sent to the peer, and those that failed
	Connection    string `json:",omitempty"` // of this pod to the peer; empty for self
	Unavailable   bool   // the peer stopped answering: its keys are loaded here until it answers
}

// connectionNames are what the page calls the states of a connection to a peer.
var connectionNames = map[connectivity.State]string{
	connectivity.Idle:             "not open",
	connectivity.Connecting:       "connecting",
	connectivity.Ready:            "open",
	connectivity.TransientFailure: "failing",
	connectivity.Shutdown:         "closed",
}

type debugWatch struct {
	LastSync          time.Time
	ResourceVersion   string
	Restarts, Relists int64
	Events            int64
	LastError         *watchFailure `json:",omitempty"`
}

type debugGroup struct {
	Name                string
	Gets, CacheHits     int64
	PeerLoads           int64
	PeerErrors          int64
	Loads, LoadsDeduped int64
	LocalLoads          int64
	LocalLoadErrs       int64
	ServerRequests      int64
	Main, Hot           groupcache.CacheStats
}

//go:embed debugpage.html
var debugPageHTML string

var debugTemplate = template.Must(template.New("debug").Funcs(template.FuncMap{
	// percent shows a share rounded to two decimals, without trailing zeros: "33.5 %".
	"percent": func(f float64) string { return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64) + " %" },
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return time.Since(t).Round(time.Millisecond).String() + " ago"
	},
}).Parse(debugPageHTML))

func (p debugPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	state := p.state(r.URL.Query().Get("key"))
	w.Header().Set("Cache-Control", "no-store")
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(state)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	if err := debugTemplate.Execute(w, state); err != nil {
		p.m.cfg.logger.Error("rendering the groupcache operator page", "error", err)
	}
}

// wantsJSON reports whether the request asks for JSON: ?format=json, or an Accept header
// that names application/json before text/html.
func wantsJSON(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); f != "" {
		return f == "json"
	}
	accept := r.Header.Get("Accept")
	j, h := strings.Index(accept, "application/json"), strings.Index(accept, "text/html")
	return j >= 0 && (h < 0 || j < h)
}

// state gathers the page's contents.
func (p debugPage) state(key string) debugState {
	m := p.m
	s := m.router.snapshot()
	st := debugState{Self: m.self, Stats: m.Stats()}
	if key != "" {
		st.Key, st.Owner = key, m.Owner(key)
	}

	slots := make([]int, len(s.ring.members()))
	for _, i := range s.ring.table {
		slots[i]++
	}
	named := append(m.Groups(), p.groups...)
	peer := func(id string) debugPeer {
		d := debugPeer{ID: id, Self: id == m.self}
		if c, ok := s.clients[id].(*peerClient); ok {
			d.Calls, d.Errors = c.calls.Load(), c.errors.Load()
			d.Connection = connectionNames[c.conn.connState()]
			d.Unavailable = c.health.unavailable.Load()
		}
		return d
	}
	for i, id := range s.ring.members() {
		d := peer(id)
		d.SharePercent = 100 * float64(slots[i]) / tableSize
		st.Peers = append(st.Peers, d)
	}
	for _, id := range s.view.leaving {
		d := peer(id)
		d.Leaving = true
		st.Peers = append(st.Peers, d)
	}

	st.Watch = debugWatch{LastSync: st.Stats.LastSync, Restarts: st.Stats.WatchRestarts, Relists: st.Stats.Relists,
		Events: st.Stats.WatchEvents, LastError: m.stats.lastError.Load()}
	st.Watch.ResourceVersion, _ = m.stats.resourceVersion.Load().(string)

	slices.Sort(named)
	for _, name := range slices.Compact(named) {
		g := groupcache.GetGroup(name)
		if g == nil {
			continue
		}
		c := &g.Stats
		st.Groups = append(st.Groups, debugGroup{
			Name: name, Gets: c.Gets.Get(), CacheHits: c.CacheHits.Get(),
			PeerLoads: c.PeerLoads.Get(), PeerErrors: c.PeerErrors.Get(),
			Loads: c.Loads.Get(), LoadsDeduped: c.LoadsDeduped.Get(),
			LocalLoads: c.LocalLoads.Get(), LocalLoadErrs: c.LocalLoadErrs.Get(),
			ServerRequests: c.ServerRequests.Get(),
			Main:           g.CacheStats(groupcache.MainCache),
			Hot:            g.CacheStats(groupcache.HotCache),
		})
	}
	return st
}
