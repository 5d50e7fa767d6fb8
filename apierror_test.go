package k8s

// Tests of the API error classification: which failures end the start at once, which
// mean "relist", and what the messages tell the user to do.

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestAPIErrors(t *testing.T) {
	resource := schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}
	tooLarge := apierrors.NewTimeoutError("Too large resource version: 1200, current: 1100", 1)
	tooLarge.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge}}
	gone := &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusGone,
		Reason: metav1.StatusReasonExpired, Message: "too old resource version: 1 (1000)"}}
	tests := []struct {
		name          string
		err           error
		wantPermanent bool
		wantExpired   bool
		wantTooLarge  bool
		wantSays      string // part of describe's message
	}{
		{"forbidden", apierrors.NewForbidden(resource, "", errors.New("no RBAC")), true, false, false,
			"grant list and watch on discovery.k8s.io/endpointslices in namespace shop"},
		{"unauthorized", apierrors.NewUnauthorized("bad token"), true, false, false, "ServiceAccount token"},
		{"not found", apierrors.NewNotFound(resource, ""), true, false, false, "Kubernetes 1.21 or later"},
		{"gone", gone, false, true, false, "too old resource version"},
		{"expired reason without 410", apierrors.NewResourceExpired("expired"), false, true, false, "expired"},
		{"too large resource version", tooLarge, false, false, true, "Too large resource version"},
		{"too many requests", apierrors.NewTooManyRequests("slow down", 7), false, false, false, "slow down"},
		{"server error", apierrors.NewInternalError(errors.New("etcd is down")), false, false, false, "etcd is down"},
		{"not an API error", errors.New("connection refused"), false, false, false, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := permanent(tt.err); got != tt.wantPermanent {
				t.Errorf("permanent = %v, want %v", got, tt.wantPermanent)
			}
			if got := isExpired(tt.err); got != tt.wantExpired {
				t.Errorf("isExpired = %v, want %v", got, tt.wantExpired)
			}
			if got := isTooLargeResourceVersion(tt.err); got != tt.wantTooLarge {
				t.Errorf("isTooLargeResourceVersion = %v, want %v", got, tt.wantTooLarge)
			}
			described := describe(tt.err, "shop")
			if !strings.Contains(described.Error(), tt.wantSays) || !errors.Is(described, tt.err) {
				t.Errorf("describe = %q; want it to say %q and wrap the error", described, tt.wantSays)
			}
		})
	}
}
