#!/usr/bin/env bash
# Builds the Pulumi engine this project runs on, from Go modules, into .engine/bin (gitignored):
#   pulumi                          the CLI, pkg/v3 at $PULUMI_VERSION (real version string, so `pulumi version`
#                                   and the Automation API's version check work)
#   pulumi-language-nodejs          flagday's own small Node.js language host (engine/cmd/...), built from the
#                                   same pulumi/sdk/v3: Pulumi's host module is not served by the module proxy
#   pulumi-resource-pulumi-nodejs   the dynamic-provider launcher, copied from @pulumi/pulumi
# Idempotent: a second run with nothing changed only checks stamps and takes well under 5 seconds. A compatible
# `pulumi` already on PATH (same version) is reused instead of building one.
set -euo pipefail

PULUMI_VERSION="v3.259.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.engine/bin"
STAMPS="$ROOT/.engine/stamps"
mkdir -p "$BIN" "$STAMPS"

step() { printf '[engine] %s\n' "$*" >&2; }
die() {
  printf '[engine] error: %s\n' "$*" >&2
  exit 1
}

if ! command -v go >/dev/null 2>&1; then
  die "Go is not installed. flagday builds the Pulumi CLI from Go modules and needs Go 1.25 or newer: \
install it from your package manager (Debian: apt-get install golang-go, or the Go module proxy's toolchain) \
and run 'npm run engine' again."
fi
go_minor="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
if [ "${go_minor:-0}" -lt 25 ]; then
  die "Go $(go env GOVERSION) is too old: Pulumi $PULUMI_VERSION needs Go 1.25 or newer."
fi
if [ ! -f "$ROOT/node_modules/@pulumi/pulumi/package.json" ]; then
  die "node_modules is missing: run 'npm ci' first (the engine needs @pulumi/pulumi $PULUMI_VERSION)."
fi
npm_sdk="v$(sed -nE 's/^\s*"version": "([^"]+)".*/\1/p' "$ROOT/node_modules/@pulumi/pulumi/package.json" | head -1)"
if [ "$npm_sdk" != "$PULUMI_VERSION" ]; then
  die "@pulumi/pulumi in node_modules is $npm_sdk but the engine is pinned to $PULUMI_VERSION: \
keep package.json and scripts/build-engine.sh on the same version."
fi

export GOFLAGS="${GOFLAGS:--mod=mod}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
cd "$ROOT/engine"

# A stamp records what a binary was built from; matching stamp and binary means there is nothing to do.
src_hash() { cat go.mod go.sum "$@" 2>/dev/null | sha256sum | cut -c1-16; }
up_to_date() { [ -x "$BIN/$1" ] && [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }

# 1. The CLI.
cli_stamp="$PULUMI_VERSION-$(src_hash tools.go)"
if up_to_date pulumi "$cli_stamp"; then
  step "pulumi $PULUMI_VERSION: up to date"
else
  ambient="$(PATH="${PATH//$BIN:/}" command -v pulumi || true)"
  if [ -n "$ambient" ] && [ "$("$ambient" version 2>/dev/null)" = "$PULUMI_VERSION" ]; then
    step "pulumi $PULUMI_VERSION: using the one on PATH ($ambient)"
    ln -sf "$ambient" "$BIN/pulumi"
  else
    step "pulumi $PULUMI_VERSION: downloading Go modules (first run only)..."
    go mod download github.com/pulumi/pulumi/pkg/v3 || die "the Go module proxy did not serve \
github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION: check GOPROXY ($(go env GOPROXY)) and your network."
    step "pulumi $PULUMI_VERSION: compiling (about 4 minutes on 2 cores with an empty Go cache)..."
    start=$(date +%s)
    go build -tags osusergo,grpcnotrace \
      -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
      -o "$BIN/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
    step "pulumi $PULUMI_VERSION: built in $(($(date +%s) - start)) s"
  fi
  echo "$cli_stamp" >"$STAMPS/pulumi"
fi

# 2. The Node.js language host.
host_stamp="$PULUMI_VERSION-$(src_hash cmd/pulumi-language-nodejs/*.go)"
if up_to_date pulumi-language-nodejs "$host_stamp"; then
  step "pulumi-language-nodejs: up to date"
else
  step "pulumi-language-nodejs: compiling..."
  go build -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
    -o "$BIN/pulumi-language-nodejs" ./cmd/pulumi-language-nodejs
  echo "$host_stamp" >"$STAMPS/pulumi-language-nodejs"
fi

# 3. The launchers that Pulumi's release archives ship beside the CLI: dynamic providers and policy packs.
install -m 0755 "$ROOT/node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs" "$BIN/"
install -m 0755 "$ROOT/scripts/pulumi-analyzer-policy" "$BIN/"
# The stage commands call the checks CLI and the simulator by name, as an installed package's bins would be.
ln -sf "$ROOT/bin/flagday.js" "$BIN/flagday"
ln -sf "$ROOT/bin/consensus-service-sim" "$BIN/consensus-service-sim"

step "ready: $("$BIN/pulumi" version) in $BIN"
