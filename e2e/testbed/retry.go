package testbed

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// retryBusy calls f until it returns an error other than the API server's "too busy" answers
// (a request that timed out inside the server, a server timeout, too many requests) or ctx
// ends, as a kubelet retries its writes: on a machine running 150 pods and the control plane,
// the API server answers some writes with a timeout, and a test bed that gave up there would
// report the machine's load as the pod's failure. It waits 100 ms after the first busy answer,
// doubling up to 2 s.
func retryBusy(ctx context.Context, f func(context.Context) error) error {
	wait := 100 * time.Millisecond
	for {
		err := f(ctx)
		if !busy(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// busy reports whether err is an answer of an API server too busy to do the request now.
func busy(err error) bool {
	return apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err)
}
