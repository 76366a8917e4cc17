//go:build tools

// Package tools pins the Pulumi CLI as a dependency of this module, so that `go build` ignores the
// replace directives of pulumi/pkg's own go.mod (which point into its monorepo).
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
