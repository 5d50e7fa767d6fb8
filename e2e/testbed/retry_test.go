package testbed

import (
	"context"
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestRetryBusy: the API server's busy answers are retried until the request is done;
// any other answer, success or not, ends the retries at once; and a busy server is given
// up on, with its last answer, when the context ends.
func TestRetryBusy(t *testing.T) {
	pods := schema.GroupResource{Resource: "pods"}
	timeout := apierrors.NewTimeoutError("request did not complete within requested timeout", 0)
	serverTimeout := apierrors.NewServerTimeout(pods, "delete", 0)
	tooMany := apierrors.NewTooManyRequests("slow down", 0)
	notFound := apierrors.NewNotFound(pods, "pod-1")
	other := errors.New("connection refused")
	for _, tc := range []struct {
		name      string
		answers   []error // the answers of the calls, in order; the last one repeats
		wantCalls int
		wantErr   error
	}{
		{"done at once", []error{nil}, 1, nil},
		{"busy, then done", []error{timeout, serverTimeout, tooMany, nil}, 4, nil},
		{"busy, then not found", []error{timeout, notFound}, 2, notFound},
		{"another error", []error{other}, 1, other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := retryBusy(t.Context(), func(context.Context) error {
				calls++
				return tc.answers[min(calls, len(tc.answers))-1]
			})
			if calls != tc.wantCalls || !errors.Is(err, tc.wantErr) {
				t.Errorf("retryBusy: %d calls, %v; want %d, %v", calls, err, tc.wantCalls, tc.wantErr)
			}
		})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	calls := 0
	err := retryBusy(ctx, func(context.Context) error { calls++; return timeout })
	if !apierrors.IsTimeout(err) || calls < 2 || ctx.Err() == nil {
		t.Errorf("a server busy for good: %d calls, %v, context %v; want the timeout after at least 2 calls, once the context ended", calls, err, ctx.Err())
	}
}
