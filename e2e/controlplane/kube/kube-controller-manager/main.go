// Command kube-controller-manager is the controller manager of k8s.io/kubernetes, built from
// the module proxy for the end-to-end test bed; the test bed runs only its EndpointSlice
// controller.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() { os.Exit(cli.Run(app.NewControllerManagerCommand())) }
