package testbed

import (
	"net/http"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// TestExpiredEvent: only the API server's 410 as the first event of a watch says the
// resourceVersion left the history; any other event says it is still there, and any other
// error is an error.
func TestExpiredEvent(t *testing.T) {
	status := func(code int32, reason metav1.StatusReason) *metav1.Status {
		return &metav1.Status{Status: metav1.StatusFailure, Code: code, Reason: reason, Message: "from the test"}
	}
	for _, tc := range []struct {
		name        string
		ev          watch.Event
		wantExpired bool
		wantErr     bool
	}{
		{"410 Gone", watch.Event{Type: watch.Error, Object: status(http.StatusGone, metav1.StatusReasonExpired)}, true, false},
		{"an event after rv", watch.Event{Type: watch.Added, Object: &discoveryv1.EndpointSlice{}}, false, false},
		{"a bookmark", watch.Event{Type: watch.Bookmark, Object: &discoveryv1.EndpointSlice{}}, false, false},
		{"another error", watch.Event{Type: watch.Error, Object: status(http.StatusInternalServerError, metav1.StatusReasonInternalError)}, false, true},
		{"an error that is no Status", watch.Event{Type: watch.Error, Object: &discoveryv1.EndpointSlice{}}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expired, err := expiredEvent(tc.ev, "42")
			if expired != tc.wantExpired || (err != nil) != tc.wantErr {
				t.Errorf("expiredEvent = %v, %v; want expired %v, error %v", expired, err, tc.wantExpired, tc.wantErr)
			}
		})
	}
}
