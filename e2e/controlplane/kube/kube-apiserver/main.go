// Command kube-apiserver is the Kubernetes API server of k8s.io/kubernetes, built from the
// module proxy for the end-to-end test bed.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() { os.Exit(cli.Run(app.NewAPIServerCommand())) }
