// Command etcd is etcd v3.6 (the version k8s.io/kubernetes v1.36 is tested with), built from Go modules:
// Debian's etcd 3.4 is too old for this control plane.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
