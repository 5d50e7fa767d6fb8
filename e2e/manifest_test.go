package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/groupcache-k8s/k8s/e2e/testbed"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// warnings collects the API server's Warning headers.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

// take returns the warnings collected since the last call.
func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.list
	w.list = nil
	return list
}

// TestExampleManifestDryRun creates every object of example/k8s.yaml, as written, with a
// server-side dry run in a namespace that enforces (and warns about) the Pod Security
// "restricted" profile, and a Pod of the Deployment's template, which the profile is
// enforced on. The real API server checks the schema and the field names (strict field
// validation: an unknown or duplicate field is an error), the admission plugins run, and any
// warning (a deprecated field, a profile violation on the Deployment) fails the test. A pod
// without the manifest's securityContext is refused there, which shows the profile is on.
func TestExampleManifestDryRun(t *testing.T) {
	ctx := t.Context()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "manifest-restricted", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
		"pod-security.kubernetes.io/audit":   "restricted",
	}}}
	if _, err := cluster.Admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cluster.Admin.CoreV1().Namespaces().Delete(t.Context(), ns.Name, metav1.DeleteOptions{})
	})

	warned := &warnings{}
	cfg := rest.CopyConfig(cluster.AdminConfig)
	cfg.WarningHandler = warned
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	dryRun := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: metav1.FieldValidationStrict}
	create := func(obj *unstructured.Unstructured) error {
		gvk := obj.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return err
		}
		_, err = client.Resource(mapping.Resource).Namespace(ns.Name).Create(ctx, obj, dryRun)
		return err
	}

	objects := readManifestObjects(t, filepath.Join(testbed.RootDir(), "example", "k8s.yaml"))
	var template map[string]any
	var serviceAccount *unstructured.Unstructured
	for _, obj := range objects {
		name := obj.GetKind() + " " + obj.GetName()
		if err := create(obj); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if w := warned.take(); len(w) > 0 {
			t.Errorf("%s: the API server warned:\n%s", name, strings.Join(w, "\n"))
		}
		switch obj.GetKind() {
		case "Deployment":
			template, _, _ = unstructured.NestedMap(obj.Object, "spec", "template")
		case "ServiceAccount":
			serviceAccount = obj
		}
	}
	if template == nil || serviceAccount == nil {
		t.Fatal("example/k8s.yaml holds no Deployment with a pod template, or no ServiceAccount")
	}

	// A Pod of the template: the restricted profile is enforced on Pods (on a Deployment it
	// only warns, which the loop above counts as a failure too). Its ServiceAccount must exist
	// for the Pod's admission, so this one is created for real.
	gvr := corev1.SchemeGroupVersion.WithResource("serviceaccounts")
	if _, err := client.Resource(gvr).Namespace(ns.Name).Create(ctx, serviceAccount, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": template["metadata"], "spec": template["spec"]}}
	pod.SetName("groupcache-example-template")
	if err := create(pod); err != nil {
		t.Errorf("a Pod of the Deployment's template: %v", err)
	}
	if w := warned.take(); len(w) > 0 {
		t.Errorf("a Pod of the Deployment's template: the API server warned:\n%s", strings.Join(w, "\n"))
	}

	// The control: the same Pod without its securityContexts is refused.
	bare := pod.DeepCopy()
	bare.SetName("groupcache-example-bare")
	unstructured.RemoveNestedField(bare.Object, "spec", "securityContext")
	containers, _, _ := unstructured.NestedSlice(bare.Object, "spec", "containers")
	for _, c := range containers {
		delete(c.(map[string]any), "securityContext")
	}
	unstructured.SetNestedSlice(bare.Object, containers, "spec", "containers")
	err = create(bare)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `violates PodSecurity "restricted`) {
		t.Errorf("a Pod without securityContext in a restricted namespace: err = %v; want it forbidden by PodSecurity", err)
	}
	warned.take()
	if t.Failed() {
		return
	}
	t.Logf("%d objects of example/k8s.yaml and a Pod of its template pass a dry run in a restricted namespace", len(objects))
}

// readManifestObjects decodes every document of a multi-document YAML file as it is, without
// the Go types (which would drop unknown fields before the API server could see them).
func readManifestObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	reader := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objects []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objects
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if obj.Object == nil {
			continue // a document of comments only
		}
		objects = append(objects, obj)
	}
}
