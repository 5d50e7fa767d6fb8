package k8s

// The watch: the List+Watch loop over one Service's EndpointSlices.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"syscall"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// Timings of the watch protocol, after client-go's reflector.
const (
	// Each watch asks the server to end it after a random time in
	// [minWatchTimeout, 2*minWatchTimeout), so watchers do not all reconnect at once.
	minWatchTimeout = 5 * time.Minute
	// clientDeadlineSlack is how long after its requested timeout a watch is abandoned
	// by the client if the server has not ended it.
	clientDeadlineSlack = 30 * time.Second
	// listTimeout bounds one LIST request, so an API server that never answers
	// cannot stall the loop.
	listTimeout = time.Minute
	// veryShortWatch: a watch that ends sooner than this without a single event counts
	// as a failure, so a server that closes watches at once is not hammered.
	veryShortWatch = time.Second
)

// maxEventBytes bounds one decoded watch event or list; a larger one is an error, not
// an unbounded allocation. The API server's own limit on an object is far smaller.
// A variable only so that tests can lower it.
var maxEventBytes = 64 << 20

var (
	errWatchIdle      = errors.New("watch received nothing within the idle timeout")
	errWatchDeadline  = errors.New("watch outlived its timeoutSeconds; the server never ended it")
	errVeryShortWatch = errors.New("watch ended at once without any event")
	errEventTooLarge  = errors.New("watch event larger than the limit")
)

// sliceWatcher keeps the EndpointSlices of one Service with LIST and WATCH requests
// and reports every change to onChange. It runs in a single goroutine.
type sliceWatcher struct {
	rest      rest.Interface // the discovery.k8s.io/v1 client
	namespace string
	service   string
	cfg       *config
	stats     *counters
	log       *slog.Logger
	// onChange receives the whole current state after each LIST and after each batch
	// of watch events that arrived together. It must not keep the map.
	onChange func(map[string]*slice)

	slices  map[string]*slice // by slice name
	rv      string            // last resourceVersion seen
	listRV  string            // resourceVersion the next LIST asks for; "" is a consistent read
	watches int64
	backoff backoff
	lists   int64 // number of LISTs done, for Stats.Relists
}

func newSliceWatcher(rc rest.Interface, namespace, service string, cfg *config, stats *counters,
	onChange func(map[string]*slice)) *sliceWatcher {
	return &sliceWatcher{
		rest: rc, namespace: namespace, service: service, cfg: cfg, stats: stats,
		log: cfg.logger, onChange: onChange, backoff: backoff{rand: cfg.rand},
	}
}

func (w *sliceWatcher) selector() string {
	return discoveryv1.LabelServiceName + "=" + w.service
}

// initialList does the first LIST, retrying for at most timeout while the API server
// cannot be reached. Errors that retrying cannot fix, such as 401 and 403, end it at
// once.
func (w *sliceWatcher) initialList(parent context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(parent, timeout) // bounds a LIST that hangs
	defer cancel()
	deadline := w.cfg.clock.Now().Add(timeout)
	for {
		err := w.list(ctx)
		switch {
		case err == nil:
			return nil
		case permanent(err):
			return describe(err, w.namespace)
		case parent.Err() != nil:
			return context.Cause(parent)
		case ctx.Err() != nil || !w.cfg.clock.Now().Before(deadline):
			return fmt.Errorf("API server not reachable within %v: %w", timeout, err)
		}
		d := min(w.delay(err), deadline.Sub(w.cfg.clock.Now()))
		w.log.Warn("endpointslices list failed; retrying", "retryIn", d, "error", err)
		w.sleep(ctx, d)
	}
}

// list replaces the whole state with a fresh LIST, which also applies deletes missed
// while disconnected. If the server cannot serve the requested resourceVersion (410
// or "too large"), it retries at once with a consistent read.
func (w *sliceWatcher) list(ctx context.Context) error {
	list, err := w.doList(ctx, w.listRV)
	if err != nil && w.listRV != "" && (isExpired(err) || isTooLargeResourceVersion(err)) {
		w.log.Info("relisting with a consistent read", "resourceVersion", w.listRV, "error", err)
		list, err = w.doList(ctx, "")
	}
	if err != nil {
		return err
	}
	if w.lists++; w.lists > 1 {
		w.stats.relists.Add(1)
	}
	w.slices = make(map[string]*slice, len(list.Items))
	for i := range list.Items {
		s := list.Items[i].compact()
		if w.ours(s) {
			w.slices[s.name] = s
		}
	}
	w.rv, w.listRV = list.Metadata.ResourceVersion, list.Metadata.ResourceVersion
	w.backoff.success(w.cfg.clock.Now())
	w.synced()
	w.onChange(w.slices)
	return nil
}

func (w *sliceWatcher) doList(ctx context.Context, rv string) (*wireList, error) {
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	req := w.request().Param("resourceVersion", rv)
	if rv != "" && rv != "0" {
		req = req.Param("resourceVersionMatch", string(metav1.ResourceVersionMatchNotOlderThan))
	}
	body, err := req.Stream(ctx)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, int64(maxEventBytes)+1))
	if err != nil {
		return nil, fmt.Errorf("reading endpointslices list: %w", err)
	}
	if len(data) > maxEventBytes {
		return nil, fmt.Errorf("endpointslices list larger than %d bytes", maxEventBytes)
	}
	var list wireList
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("decoding endpointslices list: %w", err)
	}
	if list.Metadata.ResourceVersion == "" {
		return nil, errors.New("endpointslices list has no resourceVersion")
	}
	return &list, nil
}

// request starts a LIST or WATCH request, and counts it.
func (w *sliceWatcher) request() *rest.Request {
	w.stats.apiRequests.Add(1)
	return w.rest.Get().
		Namespace(w.namespace).
		Resource("endpointslices").
		Param("labelSelector", w.selector()).
		SetHeader("Accept", "application/json").
		MaxRetries(0) // 429 and Retry-After are handled by the loop, interruptibly
}

// run watches until ctx ends, relisting when the server says our resourceVersion is
// gone and backing off after failures. While the API server is unreachable or
// forbids us, the last state stays in force.
func (w *sliceWatcher) run(ctx context.Context) {
	needList, justListed := false, true // the first LIST was done by initialList
	for ctx.Err() == nil {
		if needList {
			if err := w.list(ctx); err != nil {
				w.retryAfter(ctx, err, "list")
				continue
			}
			needList, justListed = false, true
		}
		events, err := w.watch(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			w.backoff.success(w.cfg.clock.Now()) // normal end: watch again at once
		case errors.Is(err, errWatchIdle):
			// Our own timeout on a silent stream. Resume at once from the last
			// resourceVersion: a server that is gone is still asked only once per idle
			// timeout, while backing off would leave a quiet but healthy Service
			// unwatched (servers without periodic bookmarks send nothing for minutes).
			w.log.Info("endpointslices watch silent for the idle timeout; resuming", "resourceVersion", w.rv)
		case isExpired(err):
			// Our resourceVersion was compacted away: only a LIST can tell what we
			// missed, so relist at once. A 410 straight after a LIST, though, is a
			// failure like any other, or a lagging server would be relisted in a loop.
			w.log.Info("watch expired, relisting", "resourceVersion", w.rv, "error", err)
			needList, w.listRV = true, w.rv
			if justListed && events == 0 {
				w.retryAfter(ctx, err, "watch")
			}
		default:
			w.retryAfter(ctx, err, "watch")
		}
		justListed = false
	}
}

// retryAfter logs a failure and waits for the backoff delay, at least as long as the
// server's Retry-After, or until ctx ends.
func (w *sliceWatcher) retryAfter(ctx context.Context, err error, what string) {
	d := w.delay(err)
	if ctx.Err() != nil {
		return
	}
	described := describe(err, w.namespace)
	w.stats.lastError.Store(&watchFailure{At: w.cfg.clock.Now(), Error: what + ": " + described.Error()})
	w.log.Warn("endpointslices "+what+" failed; keeping the last known peers", "retryIn", d, "error", described)
	w.sleep(ctx, d)
}

// sleep waits for d, or until ctx ends.
func (w *sliceWatcher) sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-w.cfg.clock.After(d):
	}
}

// delay is the backoff after err: the next step of the schedule, and at least the
// server's Retry-After on a 429, up to backoffMax. A longer Retry-After (a gateway's
// "come back tomorrow", or a hostile answer) would freeze the peers for that long; like
// client-go, the loop never waits longer than its backoff cap for it.
//
// After a lost connection (refused, reset, or a stream cut off mid-frame) the delay is
// short (lostDelay), and so it is for a 401 or 403 within warmUp after one: a server
// that has just started may answer 403 until its RBAC caches are filled.
func (w *sliceWatcher) delay(err error) time.Duration {
	now := w.cfg.clock.Now()
	switch {
	case connectionLost(err):
		return w.backoff.lost(now)
	case (apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)) && w.backoff.warmingUp(now):
		return w.backoff.short()
	}
	d := w.backoff.failure(now)
	if seconds, ok := apierrors.SuggestsClientDelay(err); ok && apierrors.IsTooManyRequests(err) {
		d = max(d, min(time.Duration(seconds)*time.Second, backoffMax))
	}
	return d
}

// connectionLost reports whether err is a lost connection: refused, reset, or a
// response cut off mid-frame. Nothing answered, rather than a server that answered badly
// or too slowly.
func connectionLost(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// watch runs one WATCH from the last resourceVersion and applies its events. It
// returns nil when the server ended the watch normally.
func (w *sliceWatcher) watch(ctx context.Context) (events int, err error) {
	timeout := minWatchTimeout + time.Duration(w.cfg.rand()*float64(minWatchTimeout))
	ctx, cancel := context.WithTimeoutCause(ctx, timeout+clientDeadlineSlack, errWatchDeadline)
	defer cancel()
	idle, stopIdle := context.WithCancelCause(ctx)
	defer stopIdle(nil)

	if w.watches++; w.watches > 1 {
		w.stats.watchRestarts.Add(1)
	}
	started := w.cfg.clock.Now()
	// The idle timer also covers a server that accepts the request and never answers.
	idleTimer := w.cfg.clock.AfterFunc(w.cfg.idleTimeout, func() { stopIdle(errWatchIdle) })
	defer idleTimer.Stop()
	body, err := w.request().
		Param("watch", "true").
		Param("resourceVersion", w.rv).
		Param("allowWatchBookmarks", "true").
		Param("timeoutSeconds", strconv.Itoa(int(timeout/time.Second))).
		Stream(idle)
	if err != nil {
		if cause := context.Cause(idle); cause != nil {
			return 0, cause
		}
		return 0, err
	}
	defer body.Close()
	w.backoff.success(started)
	idleTimer.Reset(w.cfg.idleTimeout)

	buffered := bufio.NewReaderSize(body, 8<<10)
	limited := &limitedReader{r: buffered}
	dec := json.NewDecoder(limited)
	unpublished := false
	defer func() {
		if unpublished {
			w.onChange(w.slices) // what was applied before the stream broke
		}
	}()
	for {
		limited.n = 0
		var raw rawEvent
		err := dec.Decode(&raw)
		if err != nil {
			if cause := context.Cause(idle); cause != nil {
				return events, cause // idle, past the client deadline, or shutting down
			}
			if errors.Is(err, io.EOF) {
				if events == 0 && w.cfg.clock.Now().Sub(started) < veryShortWatch {
					return 0, errVeryShortWatch
				}
				return events, nil
			}
			return events, fmt.Errorf("reading watch stream: %w", err)
		}
		idleTimer.Reset(w.cfg.idleTimeout)
		if err := w.apply(raw); err != nil {
			return events, err
		}
		events++
		// Events that arrived together are applied together: rebuild once, with
		// the final state, when nothing more is waiting to be decoded.
		unpublished = moreBuffered(dec, buffered)
		if !unpublished {
			w.onChange(w.slices)
		}
	}
}

// apply applies one decoded watch event. It returns an error only for ERROR events.
func (w *sliceWatcher) apply(raw rawEvent) error {
	ev, err := decodeEvent(raw)
	if err != nil {
		if errors.As(err, new(apierrors.APIStatus)) {
			return err
		}
		w.log.Warn("skipping a watch event", "error", err)
		return nil
	}
	w.stats.watchEvents.Add(1)
	if rv := ev.slice.resourceVersion; rv != "" {
		w.rv = rv
	}
	w.synced()
	switch ev.kind {
	case eventBookmark:
	case eventDeleted:
		delete(w.slices, ev.slice.name)
	case eventUpsert:
		if w.ours(ev.slice) {
			w.slices[ev.slice.name] = ev.slice
		} else {
			delete(w.slices, ev.slice.name) // its label was changed away from our Service
		}
	}
	return nil
}

// ours double-checks the label selector on the client side.
func (w *sliceWatcher) ours(s *slice) bool {
	return s.service == w.service
}

func (w *sliceWatcher) synced() {
	w.stats.lastSync.Store(w.cfg.clock.Now().UnixNano())
	w.stats.resourceVersion.Store(w.rv)
}

// moreBuffered reports whether another event has already been received: whether
// anything but whitespace is left in the decoder's buffer or in the read buffer. The
// newline after an event does not count: when the decoder's read ends exactly at an
// event's closing brace, that newline is all the read buffer holds.
func moreBuffered(dec *json.Decoder, r *bufio.Reader) bool {
	rest, _ := io.ReadAll(dec.Buffered())
	if !onlySpace(rest) {
		return true
	}
	waiting, _ := r.Peek(r.Buffered())
	return !onlySpace(waiting)
}

// onlySpace reports whether b holds nothing but JSON whitespace.
func onlySpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			return false
		}
	}
	return true
}

// limitedReader fails once more than maxEventBytes were read for one event.
type limitedReader struct {
	r io.Reader
	n int
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n > maxEventBytes {
		return 0, errEventTooLarge
	}
	n, err := l.r.Read(p)
	l.n += n
	return n, err
}
