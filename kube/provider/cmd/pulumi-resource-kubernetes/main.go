// Command pulumi-resource-kubernetes is the Pulumi Kubernetes provider's plugin, the provider module's own
// cmd/pulumi-resource-kubernetes/main.go (Apache-2.0, Pulumi Corporation) built as a dependency of this module.
// The module zip lacks the two files it embeds: scripts/build-kube.sh makes them beside this file from the module's
// schema.json and terraform-mapping.json with the module's own generate.go (the schema with its version set).
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

var providerName = "kubernetes"

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve(providerName, version.Version, pulumiSchema, terraformMapping)
}
