package k8s

// Tests of the example manifest: it decodes, and what it promises matches the library.

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

// TestExampleManifest decodes example/k8s.yaml with the Kubernetes scheme and checks
// what the README promises about it: the RBAC the library needs and no more, the pod
// fields it reads, and a Service that selects the pods.
func TestExampleManifest(t *testing.T) {
	data, err := os.ReadFile("example/k8s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var (
		sa      *corev1.ServiceAccount
		role    *rbacv1.Role
		binding *rbacv1.RoleBinding
		svc     *corev1.Service
		deploy  *appsv1.Deployment
	)
	for _, doc := range strings.Split(string(data), "\n---\n") {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("decoding a document of example/k8s.yaml: %v", err)
		}
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			sa = o
		case *rbacv1.Role:
			role = o
		case *rbacv1.RoleBinding:
			binding = o
		case *corev1.Service:
			svc = o
		case *appsv1.Deployment:
			deploy = o
		default:
			t.Errorf("unexpected object %T", runtime.Object(o))
		}
	}
	if sa == nil || role == nil || binding == nil || svc == nil || deploy == nil {
		t.Fatal("example/k8s.yaml must hold a ServiceAccount, Role, RoleBinding, Service and Deployment")
	}
	want := rbacv1.PolicyRule{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"},
		Verbs: []string{"list", "watch"}}
	if len(role.Rules) != 1 || !slices.Equal(role.Rules[0].APIGroups, want.APIGroups) ||
		!slices.Equal(role.Rules[0].Resources, want.Resources) || !slices.Equal(role.Rules[0].Verbs, want.Verbs) {
		t.Errorf("Role rules = %+v, want exactly %+v", role.Rules, want)
	}
	if binding.RoleRef.Name != role.Name || len(binding.Subjects) != 1 || binding.Subjects[0].Name != sa.Name {
		t.Errorf("RoleBinding does not bind Role %s to ServiceAccount %s", role.Name, sa.Name)
	}
	pod := deploy.Spec.Template.Spec
	if pod.ServiceAccountName != sa.Name {
		t.Errorf("serviceAccountName = %q, want %q", pod.ServiceAccountName, sa.Name)
	}
	for k, v := range svc.Spec.Selector {
		if deploy.Spec.Template.Labels[k] != v {
			t.Errorf("the Service selects %s=%s, which the pods do not carry", k, v)
		}
	}
	c := pod.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if f := env["POD_IP"].ValueFrom; f == nil || f.FieldRef == nil || f.FieldRef.FieldPath != "status.podIP" {
		t.Error("POD_IP must come from status.podIP")
	}
	if f := env["NAMESPACE"].ValueFrom; f == nil || f.FieldRef == nil || f.FieldRef.FieldPath != "metadata.namespace" {
		t.Error("NAMESPACE must come from metadata.namespace")
	}
	if env["SERVICE_NAME"].Value != svc.Name {
		t.Errorf("SERVICE_NAME = %q, want the Service %q", env["SERVICE_NAME"].Value, svc.Name)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/healthz" {
		t.Error("the container needs a readiness probe on /healthz")
	}
	// The operator page and the metrics: on ADMIN_PORT, which the Service does not expose
	// and the scrape annotations name.
	ann := deploy.Spec.Template.Annotations
	if env["ADMIN_PORT"].Value == "" || ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != env["ADMIN_PORT"].Value ||
		ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("ADMIN_PORT = %q and annotations %v; want the scrape annotations to name ADMIN_PORT and /metrics",
			env["ADMIN_PORT"].Value, ann)
	}
	for _, p := range svc.Spec.Ports {
		if p.TargetPort.String() == env["ADMIN_PORT"].Value {
			t.Errorf("the Service exposes the admin port %s", env["ADMIN_PORT"].Value)
		}
	}
	// The warm hand-off: a preStop sleep, and a grace period that leaves room for it, the
	// drain and the server's graceful stop before SIGKILL.
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatal("the container needs a preStop sleep, so that peers take over its keys while it serves")
	}
	need := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds)*time.Second + defaultDrain + serverStopTimeout
	if grace := pod.TerminationGracePeriodSeconds; grace == nil || time.Duration(*grace)*time.Second < need {
		t.Errorf("terminationGracePeriodSeconds = %v; want at least %v (preStop + drain + server stop)", grace, need)
	}
}
