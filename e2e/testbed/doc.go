// Package testbed runs a real Kubernetes control plane on one machine for the end-to-end tests,
// the demo, the recorder and the benchmarks: etcd, kube-apiserver and kube-controller-manager
// (only its EndpointSlice controller), built from the module proxy and cached by version, all
// inside a private network namespace where every pod gets its own address (192.0.2.x, then 198.18.x.y).
//
// The test bed plays the kubelet: it creates Pod objects, starts each pod as a real OS process
// bound to the pod's IP, and patches the Pod's status (podIP, Ready) the way a kubelet would, so
// the real EndpointSlice controller writes real EndpointSlices.
package testbed
