package k8s

// API errors: what the watch loop makes of the API server's failures, and the messages
// that say what to do about them.

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// permanent reports errors that retrying the same request cannot fix.
func permanent(err error) bool {
	return apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err) || apierrors.IsNotFound(err) ||
		apierrors.IsBadRequest(err) || apierrors.IsInvalid(err) || apierrors.IsMethodNotSupported(err) ||
		apierrors.IsNotAcceptable(err)
}

// isExpired reports a 410: the resourceVersion we asked for is no longer available.
// The code decides, since servers have used both reasons Gone and Expired.
func isExpired(err error) bool {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Code == http.StatusGone {
		return true
	}
	return apierrors.IsResourceExpired(err) || apierrors.IsGone(err)
}

// isTooLargeResourceVersion reports that the server has not caught up with the
// resourceVersion we asked for.
func isTooLargeResourceVersion(err error) bool {
	if apierrors.HasStatusCause(err, metav1.CauseTypeResourceVersionTooLarge) {
		return true
	}
	var status apierrors.APIStatus
	return errors.As(err, &status) && apierrors.IsTimeout(err) &&
		strings.Contains(strings.ToLower(status.Status().Message), "too large resource version")
}

// describe turns an API error into one that says what to do about it.
func describe(err error, namespace string) error {
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("endpointslices is forbidden: grant list and watch on discovery.k8s.io/endpointslices "+
			"in namespace %s to the pod's ServiceAccount (a Role and RoleBinding): %w", namespace, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the API server rejected our credentials (401 Unauthorized); check the pod's "+
			"ServiceAccount token: %w", err)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("the API server does not serve discovery.k8s.io/v1 endpointslices "+
			"(Kubernetes 1.21 or later is needed): %w", err)
	}
	return err
}
