package testbed

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

// App is the example service of example/k8s.yaml in a namespace of its own: its
// ServiceAccount, Role, RoleBinding, Services, PodDisruptionBudget and NetworkPolicy are
// created from the manifest as written (the last two change nothing here: nothing evicts,
// and no network plugin enforces policies), and its pods from the Deployment's pod template.
type App struct {
	c *Cluster
	// Namespace holds the app's objects.
	Namespace string
	// Service is the Service whose EndpointSlices the pods watch: the one the pod template's
	// SERVICE_NAME names.
	Service string

	serviceAccount string
	binding        *rbacv1.RoleBinding
	template       corev1.PodTemplateSpec
	token          string
}

// AppOptions change how NewApp sets the app up.
type AppOptions struct {
	// WithoutRoleBinding leaves the manifest's RoleBinding out, so the pods' ServiceAccount
	// may not list or watch EndpointSlices until Bind is called.
	WithoutRoleBinding bool
}

// NewApp creates namespace and the example's objects in it, and a ServiceAccount token for its
// pods from the TokenRequest API.
func (c *Cluster) NewApp(ctx context.Context, namespace string, opts AppOptions) (*App, error) {
	objects, err := readManifest(filepath.Join(RootDir(), "example", "k8s.yaml"))
	if err != nil {
		return nil, err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := c.Admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create namespace: %w", err)
	}
	a := &App{c: c, Namespace: namespace}
	core, rbac := c.Admin.CoreV1(), c.Admin.RbacV1()
	create := metav1.CreateOptions{}
	var services []string
	for _, obj := range objects {
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			a.serviceAccount = o.Name
			_, err = core.ServiceAccounts(namespace).Create(ctx, o, create)
		case *rbacv1.Role:
			_, err = rbac.Roles(namespace).Create(ctx, o, create)
		case *rbacv1.RoleBinding:
			a.binding = o
			if !opts.WithoutRoleBinding {
				err = a.Bind(ctx)
			}
		case *corev1.Service:
			services = append(services, o.Name)
			_, err = core.Services(namespace).Create(ctx, o, create)
		case *appsv1.Deployment:
			a.template = o.Spec.Template
			a.Service = templateEnv(o.Spec.Template, "SERVICE_NAME")
		case *policyv1.PodDisruptionBudget:
			_, err = c.Admin.PolicyV1().PodDisruptionBudgets(namespace).Create(ctx, o, create)
		case *networkingv1.NetworkPolicy:
			_, err = c.Admin.NetworkingV1().NetworkPolicies(namespace).Create(ctx, o, create)
		default:
			err = fmt.Errorf("example/k8s.yaml: unexpected %T", obj)
		}
		if err != nil {
			return nil, fmt.Errorf("apply example/k8s.yaml in %s: %w", namespace, err)
		}
	}
	if a.serviceAccount == "" || a.binding == nil || a.template.Labels == nil {
		return nil, errors.New("example/k8s.yaml: want a ServiceAccount, a RoleBinding, a Service and a Deployment")
	}
	if !slices.Contains(services, a.Service) {
		return nil, fmt.Errorf("example/k8s.yaml: the pods' SERVICE_NAME %q is none of its Services %v", a.Service, services)
	}
	expiry := int64(3600)
	tr, err := core.ServiceAccounts(namespace).CreateToken(ctx, a.serviceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, create)
	if err != nil {
		return nil, fmt.Errorf("TokenRequest for %s/%s: %w", namespace, a.serviceAccount, err)
	}
	a.token = tr.Status.Token
	return a, nil
}

// Bind creates the manifest's RoleBinding, granting the pods list and watch on EndpointSlices.
func (a *App) Bind(ctx context.Context) error {
	_, err := a.c.Admin.RbacV1().RoleBindings(a.Namespace).Create(ctx, a.binding.DeepCopy(), metav1.CreateOptions{})
	return err
}

// Kubeconfig writes a kubeconfig that authenticates as the app's ServiceAccount and reaches the
// API server at addr (APIServerAddr, or a Proxy in front of it).
func (a *App) Kubeconfig(name, addr string) (string, error) {
	path := a.c.path(a.Namespace + "-" + name + ".kubeconfig")
	return path, a.c.writeKubeconfig(path, addr, a.token)
}

// templateEnv returns the value of the environment variable name in the first container of
// the pod template that sets it literally, or "".
func templateEnv(t corev1.PodTemplateSpec, name string) string {
	for _, c := range t.Spec.Containers {
		for _, e := range c.Env {
			if e.Name == name {
				return e.Value
			}
		}
	}
	return ""
}

// readManifest decodes every object of a multi-document YAML file.
func readManifest(path string) ([]runtime.Object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	reader := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objects []runtime.Object
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objects, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		objects = append(objects, obj)
	}
}
