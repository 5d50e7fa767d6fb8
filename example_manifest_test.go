package k8s

// Tests of the example manifest: it decodes, and what it promises matches the library.

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
)

// exampleManifest is what example/k8s.yaml holds, by kind.
type exampleManifest struct {
	sa       *corev1.ServiceAccount
	role     *rbacv1.Role
	binding  *rbacv1.RoleBinding
	services []*corev1.Service
	deploy   *appsv1.Deployment
	pdb      *policyv1.PodDisruptionBudget
	policy   *networkingv1.NetworkPolicy
}

func readExampleManifest(t *testing.T) exampleManifest {
	t.Helper()
	data, err := os.ReadFile("example/k8s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m exampleManifest
	for _, doc := range strings.Split(string(data), "\n---\n") {
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("decoding a document of example/k8s.yaml: %v", err)
		}
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			m.sa = o
		case *rbacv1.Role:
			m.role = o
		case *rbacv1.RoleBinding:
			m.binding = o
		case *corev1.Service:
			m.services = append(m.services, o)
		case *appsv1.Deployment:
			m.deploy = o
		case *policyv1.PodDisruptionBudget:
			m.pdb = o
		case *networkingv1.NetworkPolicy:
			m.policy = o
		default:
			t.Errorf("unexpected object %T", runtime.Object(o))
		}
	}
	if m.sa == nil || m.role == nil || m.binding == nil || len(m.services) == 0 || m.deploy == nil || m.pdb == nil || m.policy == nil {
		t.Fatal("example/k8s.yaml must hold a ServiceAccount, Role, RoleBinding, Service, Deployment, PodDisruptionBudget and NetworkPolicy")
	}
	return m
}

// containerEnv returns the container's environment by name.
func containerEnv(c corev1.Container) map[string]corev1.EnvVar {
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	return env
}

// TestExampleManifest decodes example/k8s.yaml with the Kubernetes scheme and checks
// what the README promises about it: the RBAC the library needs and no more, the pod
// fields it reads, and a Service that selects the pods.
func TestExampleManifest(t *testing.T) {
	m := readExampleManifest(t)
	sa, role, binding, deploy := m.sa, m.role, m.binding, m.deploy
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
	for _, svc := range m.services {
		for k, v := range svc.Spec.Selector {
			if deploy.Spec.Template.Labels[k] != v {
				t.Errorf("the Service %s selects %s=%s, which the pods do not carry", svc.Name, k, v)
			}
		}
	}
	c := pod.Containers[0]
	env := containerEnv(c)
	if f := env["POD_IP"].ValueFrom; f == nil || f.FieldRef == nil || f.FieldRef.FieldPath != "status.podIP" {
		t.Error("POD_IP must come from status.podIP")
	}
	if f := env["NAMESPACE"].ValueFrom; f == nil || f.FieldRef == nil || f.FieldRef.FieldPath != "metadata.namespace" {
		t.Error("NAMESPACE must come from metadata.namespace")
	}
	if i := slices.IndexFunc(m.services, func(s *corev1.Service) bool { return s.Name == env["SERVICE_NAME"].Value }); i < 0 {
		t.Errorf("SERVICE_NAME = %q names none of the manifest's Services", env["SERVICE_NAME"].Value)
	}
	if _, set := env["LISTEN_IP"]; set {
		t.Error("LISTEN_IP is set: kubectl port-forward reaches the HTTP and admin ports only when they listen on every interface")
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/healthz" {
		t.Error("the container needs a readiness probe on /healthz")
	}
	// The operator page and the metrics: on ADMIN_PORT, which no Service exposes and the
	// scrape annotations name.
	ann := deploy.Spec.Template.Annotations
	if env["ADMIN_PORT"].Value == "" || ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != env["ADMIN_PORT"].Value ||
		ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("ADMIN_PORT = %q and annotations %v; want the scrape annotations to name ADMIN_PORT and /metrics",
			env["ADMIN_PORT"].Value, ann)
	}
	// The warm hand-off: a preStop sleep, and a grace period that leaves room for it, the
	// drain and the server's graceful stop before SIGKILL.
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatal("the container needs a preStop sleep, so that peers take over its keys while it serves")
	}
	preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	need := preStop + defaultDrain + serverStopTimeout
	if grace := pod.TerminationGracePeriodSeconds; grace == nil || time.Duration(*grace)*time.Second < need {
		t.Errorf("terminationGracePeriodSeconds = %v; want at least %v (preStop + drain + server stop)", grace, need)
	}
	// A rolling update replaces one pod at a time, the new one first, and a drain evicts one
	// at a time: the hand-off covers one leaving pod at a time.
	if s := deploy.Spec.Strategy.RollingUpdate; s == nil || s.MaxUnavailable == nil || s.MaxUnavailable.IntValue() != 0 ||
		s.MaxSurge == nil || s.MaxSurge.IntValue() != 1 {
		t.Errorf("the Deployment's rolling update = %+v; want maxSurge 1 and maxUnavailable 0", deploy.Spec.Strategy.RollingUpdate)
	}
}

// TestExampleManifestServices: the clients' Services expose neither the peers' gRPC port nor
// the admin port; the Service the library watches lists the pods (its EndpointSlices are all
// the library reads of it) and, headless, offers no address to connect through.
func TestExampleManifestServices(t *testing.T) {
	m := readExampleManifest(t)
	c := m.deploy.Spec.Template.Spec.Containers[0]
	env := containerEnv(c)
	// A port of the container, by its name or its number.
	internal := map[string]bool{env["GROUPCACHE_PORT"].Value: true, env["ADMIN_PORT"].Value: true}
	for _, p := range c.Ports {
		if internal[strconv.Itoa(int(p.ContainerPort))] {
			internal[p.Name] = true
		}
	}
	for _, svc := range m.services {
		if svc.Name == env["SERVICE_NAME"].Value {
			if svc.Spec.ClusterIP != corev1.ClusterIPNone || len(svc.Spec.Selector) == 0 {
				t.Errorf("the watched Service %s: clusterIP %q, selector %v; want a headless Service that selects the pods",
					svc.Name, svc.Spec.ClusterIP, svc.Spec.Selector)
			}
			continue
		}
		for _, p := range svc.Spec.Ports {
			if internal[p.TargetPort.String()] || (p.TargetPort == intstr.IntOrString{} && internal[strconv.Itoa(int(p.Port))]) {
				t.Errorf("the clients' Service %s exposes the port %s (%d), which is for the peers or for monitoring",
					svc.Name, p.TargetPort.String(), p.Port)
			}
		}
	}
}

// TestExampleManifestDisruption: a drain evicts one pod at a time, and the pods spread over
// nodes and zones.
func TestExampleManifestDisruption(t *testing.T) {
	m := readExampleManifest(t)
	labels := m.deploy.Spec.Template.Labels
	if m.pdb.Spec.MaxUnavailable == nil || m.pdb.Spec.MaxUnavailable.IntValue() != 1 || m.pdb.Spec.MinAvailable != nil {
		t.Errorf("PodDisruptionBudget maxUnavailable = %v, minAvailable = %v; want maxUnavailable 1",
			m.pdb.Spec.MaxUnavailable, m.pdb.Spec.MinAvailable)
	}
	if sel := m.pdb.Spec.Selector; sel == nil || !selects(sel.MatchLabels, labels) {
		t.Errorf("the PodDisruptionBudget's selector %v does not select the pods %v", m.pdb.Spec.Selector, labels)
	}
	spread := map[string]corev1.UnsatisfiableConstraintAction{}
	for _, c := range m.deploy.Spec.Template.Spec.TopologySpreadConstraints {
		if c.LabelSelector == nil || !selects(c.LabelSelector.MatchLabels, labels) {
			t.Errorf("the spread over %s does not count the pods %v", c.TopologyKey, labels)
		}
		spread[c.TopologyKey] = c.WhenUnsatisfiable
	}
	for _, key := range []string{"kubernetes.io/hostname", "topology.kubernetes.io/zone"} {
		if spread[key] != corev1.ScheduleAnyway {
			t.Errorf("topologySpreadConstraints over %s: %q; want ScheduleAnyway (see the manifest's comment)", key, spread[key])
		}
	}
}

// TestExampleManifestNetworkPolicy: only the app's own pods reach the gRPC port, and only the
// monitoring namespace the admin port; no rule opens either to anyone else.
func TestExampleManifestNetworkPolicy(t *testing.T) {
	m := readExampleManifest(t)
	labels := m.deploy.Spec.Template.Labels
	if !selects(m.policy.Spec.PodSelector.MatchLabels, labels) || !slices.Contains(m.policy.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Fatalf("the NetworkPolicy does not restrict the ingress of the pods %v", labels)
	}
	c := m.deploy.Spec.Template.Spec.Containers[0]
	env := containerEnv(c)
	portName := map[string]string{} // container port number -> name
	for _, p := range c.Ports {
		portName[strconv.Itoa(int(p.ContainerPort))] = p.Name
	}
	grpc, admin := env["GROUPCACHE_PORT"].Value, env["ADMIN_PORT"].Value
	for i, rule := range m.policy.Spec.Ingress {
		opens := func(port string) bool {
			if len(rule.Ports) == 0 {
				return true // every port
			}
			for _, p := range rule.Ports {
				if p.Port == nil || p.Port.String() == port || p.Port.String() == portName[port] {
					return true
				}
			}
			return false
		}
		for _, peer := range rule.From {
			switch {
			case opens(grpc) && (peer.PodSelector == nil || peer.NamespaceSelector != nil || peer.IPBlock != nil ||
				!selects(peer.PodSelector.MatchLabels, labels)):
				t.Errorf("ingress rule %d opens the gRPC port %s to %+v; want the app's own pods only", i, grpc, peer)
			case opens(admin) && (peer.NamespaceSelector == nil || peer.PodSelector != nil ||
				peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == ""):
				t.Errorf("ingress rule %d opens the admin port %s to %+v; want one namespace, by name", i, admin, peer)
			}
		}
		if len(rule.From) == 0 && (opens(grpc) || opens(admin)) {
			t.Errorf("ingress rule %d opens the gRPC or the admin port to every source", i)
		}
	}
}

// TestExampleManifestPodSecurity: the pod passes the Pod Security "restricted" profile (the
// e2e suite asks a real API server, TestExampleManifestDryRun), with a read-only root
// filesystem and the image's numeric user.
func TestExampleManifestPodSecurity(t *testing.T) {
	m := readExampleManifest(t)
	pod := m.deploy.Spec.Template.Spec
	psc, sc := pod.SecurityContext, pod.Containers[0].SecurityContext
	if psc == nil || sc == nil {
		t.Fatal("the pod and its container need a securityContext")
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod securityContext runAsNonRoot = %v, runAsUser = %v; want true and a numeric non-root user", psc.RunAsNonRoot, psc.RunAsUser)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccompProfile = %v; want RuntimeDefault", psc.SeccompProfile)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("container securityContext = %+v; want allowPrivilegeEscalation false, readOnlyRootFilesystem true, capabilities drop ALL", sc)
	}
	// The image runs as the same numeric user: the Dockerfile's USER uid:gid.
	dockerfile, err := os.ReadFile("example/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	user := regexp.MustCompile(`(?m)^USER (\d+):(\d+)$`).FindSubmatch(dockerfile)
	if user == nil || psc.RunAsUser == nil || psc.RunAsGroup == nil ||
		string(user[1]) != strconv.FormatInt(*psc.RunAsUser, 10) || string(user[2]) != strconv.FormatInt(*psc.RunAsGroup, 10) {
		t.Errorf("example/Dockerfile's USER %q differs from the pod's runAsUser:runAsGroup", user)
	}
}

// TestExampleManifestResources: the memory limit follows the example's cacheBytes, the Go
// runtime's GOMEMLIMIT is about 90 % of it, and the probes fit the library's timings.
func TestExampleManifestResources(t *testing.T) {
	m := readExampleManifest(t)
	c := m.deploy.Spec.Template.Spec.Containers[0]
	main, err := os.ReadFile("example/cmd/main.go")
	if err != nil {
		t.Fatal(err)
	}
	found := regexp.MustCompile(`NewGroup\("example", (\d+)<<20`).FindSubmatch(main)
	if found == nil {
		t.Fatal(`example/cmd/main.go: no NewGroup("example", N<<20, ...) to read cacheBytes from`)
	}
	mib, _ := strconv.ParseInt(string(found[1]), 10, 64)
	cacheBytes := mib << 20
	limit, request := c.Resources.Limits[corev1.ResourceMemory], c.Resources.Requests[corev1.ResourceMemory]
	if limit.IsZero() || request.Cmp(limit) != 0 {
		t.Errorf("memory request %v, limit %v; want both, equal", &request, &limit)
	}
	// The manifest's rule: the cache, its bookkeeping and the GC's headroom, then the runtime.
	if limit.Value() < 2*cacheBytes {
		t.Errorf("memory limit %v for a cache of %d MiB; want at least twice the cache (see the manifest's comment)", &limit, mib)
	}
	memLimit, err := parseGoMemLimit(containerEnv(c)["GOMEMLIMIT"].Value)
	if err != nil {
		t.Fatalf("GOMEMLIMIT: %v", err)
	}
	if share := float64(memLimit) / float64(limit.Value()); share < 0.85 || share > 0.95 {
		t.Errorf("GOMEMLIMIT %d is %.0f %% of the memory limit %v; want about 90 %%", memLimit, 100*share, &limit)
	}
	if _, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		t.Error("a CPU limit throttles the peers' calls; the manifest says why it has none")
	}
	if e := c.Resources.Limits[corev1.ResourceEphemeralStorage]; e.Cmp(resource.MustParse("50Mi")) < 0 {
		t.Errorf("ephemeral-storage limit %v; want room for the kubelet's rotated logs (5 x 10 MiB)", &e)
	}

	// The startup probe waits at least as long as NewPeersManager tries to reach the API
	// server; liveness asks /healthz, which depends on neither the peers nor the API server.
	probeWindow := func(p *corev1.Probe) time.Duration {
		return time.Duration(p.PeriodSeconds) * time.Duration(p.FailureThreshold) * time.Second
	}
	if p := c.StartupProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || probeWindow(p) < defaultStartupTimeout {
		t.Errorf("startupProbe = %+v; want /healthz for at least the startup timeout %v", p, defaultStartupTimeout)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Errorf("livenessProbe = %+v; want /healthz", p)
	}
}

// parseGoMemLimit reads GOMEMLIMIT as the Go runtime does: bytes, with an optional B, KiB,
// MiB, GiB or TiB.
func parseGoMemLimit(v string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			x, err := strconv.ParseInt(n, 10, 64)
			return x << u.shift, err
		}
	}
	return strconv.ParseInt(v, 10, 64)
}

// selects reports whether a selector's matchLabels select a pod with these labels.
func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}
