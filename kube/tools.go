//go:build tools

// Package tools pins the Kubernetes control plane's commands as dependencies of this module, so that `go build`
// builds them at k8s.io/kubernetes v1.36.3 with this module's replace directives (see go.mod).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
