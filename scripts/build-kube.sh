#!/usr/bin/env bash
# Builds a local Kubernetes control plane and the Pulumi Kubernetes provider from Go modules, for the tests that
# rehearse on Kubernetes against a real control plane (test/kubernetes/). Nothing is downloaded but Go modules.
#   .kube/bin/etcd                      etcd v3.6 (kube/cmd/etcd), the version Kubernetes v1.36 is tested with
#   .kube/bin/kube-apiserver            \
#   .kube/bin/kube-controller-manager    } k8s.io/kubernetes $KUBE_VERSION (kube/go.mod), one shared compile
#   .kube/bin/kube-scheduler             }
#   .kube/bin/kubectl                   /
#   .engine/bin/pulumi-resource-kubernetes   the provider plugin (kube/provider/go.mod), on the engine's PATH
# Idempotent: a second run with nothing changed only checks stamps and takes well under a second. A cold run takes
# about 11 minutes for the control plane (peak memory 2 GB) and about 11 more for the provider (its link peaks at
# 4.5 GB) on 2 busy cores, with the engine's Go build cache warm. Only one `go build` runs at a time.
#   bash scripts/build-kube.sh                  both
#   bash scripts/build-kube.sh control-plane    only the control plane
#   bash scripts/build-kube.sh provider         only the provider
set -euo pipefail

KUBE_VERSION="v1.36.3"
PROVIDER_VERSION="4.25.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KUBE_BIN="$ROOT/.kube/bin"
KUBE_STAMPS="$ROOT/.kube/stamps"
ENGINE_BIN="$ROOT/.engine/bin"
ENGINE_STAMPS="$ROOT/.engine/stamps"
WHAT="${1:-all}"

step() { printf '[kube] %s\n' "$*" >&2; }
die() {
  printf '[kube] error: %s\n' "$*" >&2
  exit 1
}

case "$WHAT" in
  all | control-plane | provider) ;;
  *) die "unknown target '$WHAT': use control-plane, provider or nothing (both)." ;;
esac

if ! command -v go >/dev/null 2>&1; then
  die "Go is not installed. The local control plane is built from Go modules and needs Go 1.26 or newer: \
install it from your package manager or the Go module proxy's toolchain and run this script again."
fi
go_minor="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
if [ "${go_minor:-0}" -lt 26 ]; then
  die "Go $(go env GOVERSION) is too old: Kubernetes $KUBE_VERSION needs Go 1.26 or newer."
fi

mkdir -p "$KUBE_BIN" "$KUBE_STAMPS" "$ENGINE_BIN" "$ENGINE_STAMPS"
# .kube/ holds build output only (about 400 MB): keep it out of git even where .gitignore does not list it.
[ -f "$ROOT/.kube/.gitignore" ] || printf '# Build output of scripts/build-kube.sh.\n*\n' >"$ROOT/.kube/.gitignore"

export GOFLAGS="${GOFLAGS:--mod=mod}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

# A stamp records what the binaries were built from; a matching stamp and binaries means there is nothing to do.
src_hash() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
stamped() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
peak() {
  # The peak resident memory of the biggest process of a build, when /usr/bin/time is there to tell.
  if [ -s "$1" ]; then
    awk -F': ' '/Maximum resident set size/ { printf ", peak memory %d MB", $2 / 1024 }' "$1"
  fi
}
timed() {
  # Runs a build under /usr/bin/time -v (if present) to report its peak memory; `$timing` holds the report.
  timing="$(mktemp)"
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -v -o "$timing" "$@"
  else
    "$@"
  fi
}

# 1. The control plane.
KUBE_TAGS="selinux,notest,grpcnotrace,providerless"
control_plane_stamp() {
  (cd "$ROOT/kube" && echo "$KUBE_VERSION-$(src_hash go.mod go.sum tools.go cmd/etcd/main.go)-$KUBE_TAGS")
}
control_plane_current() {
  local b
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [ -x "$KUBE_BIN/$b" ] || return 1
  done
  stamped "$KUBE_STAMPS/control-plane" "$(control_plane_stamp)"
}
build_control_plane() {
  if control_plane_current; then
    step "control plane $KUBE_VERSION: up to date"
    return
  fi
  cd "$ROOT/kube"
  local tags="$KUBE_TAGS"
  local stamp
  stamp="$(control_plane_stamp)"
  rm -f "$KUBE_STAMPS/control-plane"
  step "control plane $KUBE_VERSION: Go modules (downloaded on the first run only)..."
  go mod download || die "the Go module proxy did not serve k8s.io/kubernetes@$KUBE_VERSION or its \
dependencies: check GOPROXY ($(go env GOPROXY)) and your network."
  # What hack/lib/version.sh passes to a release build, so that `kubectl version` and the apiserver's /version
  # report the real release (the apiserver's compatibility version is derived from it).
  local minor="${KUBE_VERSION#v1.}"
  minor="${minor%%.*}"
  local ldflags="-s -w" pkg
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  local start
  step "etcd: compiling..."
  start=$(date +%s)
  timed go build -tags "$tags" -ldflags "-s -w" -o "$KUBE_BIN/etcd" ./cmd/etcd
  step "etcd: built in $(($(date +%s) - start)) s$(peak "$timing")"
  rm -f "$timing"
  step "kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $KUBE_VERSION: compiling (about 10 \
minutes on 2 cores with an empty Go cache)..."
  start=$(date +%s)
  timed go build -tags "$tags" -ldflags "$ldflags" -o "$KUBE_BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
  step "control plane: built in $(($(date +%s) - start)) s$(peak "$timing")"
  rm -f "$timing"
  echo "$stamp" >"$KUBE_STAMPS/control-plane"
}

# 2. The provider plugin, installed beside the engine: the engine finds `pulumi-resource-kubernetes` on PATH (every
# stack's PATH starts with .engine/bin, the tests' scratch stacks with their own PULUMI_HOME too), so no
# `pulumi plugin install` and no download.
PROVIDER_CMD=cmd/pulumi-resource-kubernetes
provider_stamp() {
  (cd "$ROOT/kube/provider" && echo "$PROVIDER_VERSION-$(src_hash go.mod go.sum "$PROVIDER_CMD/main.go")")
}
provider_current() {
  [ -x "$ENGINE_BIN/pulumi-resource-kubernetes" ] &&
    stamped "$ENGINE_STAMPS/pulumi-resource-kubernetes" "$(provider_stamp)"
}
build_provider() {
  if provider_current; then
    step "pulumi-resource-kubernetes $PROVIDER_VERSION: up to date"
    return
  fi
  cd "$ROOT/kube/provider"
  local cmd="$PROVIDER_CMD"
  local stamp
  stamp="$(provider_stamp)"
  rm -f "$ENGINE_STAMPS/pulumi-resource-kubernetes"
  step "pulumi-resource-kubernetes $PROVIDER_VERSION: Go modules (downloaded on the first run only)..."
  go mod download || die "the Go module proxy did not serve github.com/pulumi/pulumi-kubernetes/provider/v4 \
or its dependencies: check GOPROXY ($(go env GOPROXY)) and your network."
  local mod
  mod="$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4)"
  # The files main.go embeds, made the way the provider's release build makes them (its generate.go): the
  # schema with its version set, and the Terraform mapping, both re-serialized compactly.
  step "pulumi-resource-kubernetes $PROVIDER_VERSION: generating the embedded schema..."
  install -m 0644 "$mod/$cmd/schema.json" "$mod/$cmd/terraform-mapping.json" "$cmd/"
  (cd "$cmd" && VERSION="$PROVIDER_VERSION" go run "$mod/$cmd/generate.go") ||
    die "the provider's generate.go failed: see above."
  rm -f "$cmd/schema.json" "$cmd/terraform-mapping.json"
  step "pulumi-resource-kubernetes $PROVIDER_VERSION: compiling (about 10 minutes on 2 cores with an empty Go \
cache; the link needs about 4.5 GB of memory)..."
  local start
  start=$(date +%s)
  local ok=1
  timed go build \
    -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PROVIDER_VERSION" \
    -o "$ENGINE_BIN/pulumi-resource-kubernetes" "./$cmd" || ok=0
  # Generated, 8 MB: not left in the source tree (kube/provider/.gitignore lists them in case a build is cut short).
  rm -f "$cmd"/*-embed.json
  [ "$ok" = 1 ] || die "the provider did not build: see above."
  step "pulumi-resource-kubernetes: built in $(($(date +%s) - start)) s$(peak "$timing")"
  rm -f "$timing"
  echo "$stamp" >"$ENGINE_STAMPS/pulumi-resource-kubernetes"
}

# One build at a time: runs of this script at once (test files' `before`) wait here for the one building, then
# find its stamps up to date. Checking stamps takes no lock, so an up-to-date run never waits for another build.
if { [ "$WHAT" != provider ] && ! control_plane_current; } ||
  { [ "$WHAT" != control-plane ] && ! provider_current; }; then
  exec 9>"$ROOT/.kube/build.lock"
  if ! flock -n 9; then
    step "another build-kube.sh is building: waiting for it..."
    flock 9
  fi
fi

[ "$WHAT" = provider ] || build_control_plane
[ "$WHAT" = control-plane ] || build_provider

ready="kubernetes $KUBE_VERSION in $KUBE_BIN"
[ "$WHAT" != provider ] || ready=""
[ "$WHAT" = control-plane ] || ready+="${ready:+, }pulumi-resource-kubernetes $PROVIDER_VERSION in $ENGINE_BIN"
step "ready: $ready"
