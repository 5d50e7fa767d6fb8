package k8s

// The backoff: how long the watch loop waits after a failure.

import (
	"math/rand/v2"
	"time"
)

// The retry schedule of client-go's reflector: 0.8 s doubling to 30 s, each delay
// jittered into [d, 2d), so a broken API server sees about one request every 30–60 s.
const (
	backoffInitial = 800 * time.Millisecond
	backoffMax     = 30 * time.Second
	// backoffResetAfter is how long the watch must stay healthy before the schedule
	// starts again at backoffInitial. Unlike client-go, which resets every two minutes
	// even during an outage, a failure inside a healthy stretch shorter than this keeps
	// the delay where it was.
	backoffResetAfter = 2 * time.Minute

	// lostDelay is the retry delay, jittered into [d, 2d), after a lost connection: one
	// that was refused or reset, or a watch stream cut off mid-frame. Nothing listens at
	// the API server's address (it is restarting, or its load balancer has no backend),
	// so a retry costs the server nothing, and the watch resumes within about two seconds
	// of its return, however long the outage and however many came before. Each pod then
	// sends at most one request a second, and a fleet of N pods at most N a second, until
	// the server answers; an answer (429, 5xx, a timeout) puts the loop back on the
	// schedule above, which lost connections leave where it was.
	lostDelay = time.Second

	// warmUp is how long after a lost connection a 401 or 403 is still retried after
	// lostDelay: a kube-apiserver that has just started answers 403 until its RBAC
	// caches are filled (seen in the e2e suite right after a restart). A lasting 401 or
	// 403 goes back on the schedule once warmUp has passed.
	warmUp = 10 * time.Second
)

// backoff computes the delay before the next attempt after a failure.
type backoff struct {
	rand         func() float64 // in [0, 1)
	next         time.Duration  // un-jittered delay of the next failure; 0 means initial
	healthySince time.Time      // start of the current healthy stretch; zero while failing
	lostAt       time.Time      // when a connection was last lost
}

// failure returns how long to wait before retrying.
func (b *backoff) failure(now time.Time) time.Duration {
	if !b.healthySince.IsZero() && now.Sub(b.healthySince) >= backoffResetAfter {
		b.next = 0
	}
	b.healthySince = time.Time{}
	d := b.next
	if d == 0 {
		d = backoffInitial
	}
	b.next = min(2*d, backoffMax)
	return d + time.Duration(b.rand()*float64(d))
}

// lost returns how long to wait after a lost connection. It leaves the schedule of
// failures the server answered where it was.
func (b *backoff) lost(now time.Time) time.Duration {
	b.healthySince, b.lostAt = time.Time{}, now
	return b.short()
}

// warmingUp reports whether a connection was lost less than warmUp ago.
func (b *backoff) warmingUp(now time.Time) bool {
	return !b.lostAt.IsZero() && now.Sub(b.lostAt) < warmUp
}

// short is lostDelay, jittered.
func (b *backoff) short() time.Duration {
	return lostDelay + time.Duration(b.rand()*float64(lostDelay))
}

// success records that the watch is healthy from now on.
func (b *backoff) success(now time.Time) {
	if b.healthySince.IsZero() {
		b.healthySince = now
	}
}

func defaultRand() float64 { return rand.Float64() }
