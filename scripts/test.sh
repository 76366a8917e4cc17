#!/usr/bin/env bash
# `npm test`: everything a new user (and CI) runs. Builds the engine if needed (idempotent), then runs every
# test file with node's test runner: plain unit tests, resource-graph tests under Pulumi mocks, the simulator
# and checks tests, and the end-to-end tests that drive the real Pulumi engine.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$FLAGDAY_ROOT"
bash scripts/build-engine.sh
# The Kubernetes tier's control plane (etcd, kube-apiserver, controller manager, scheduler, kubectl) and the
# Pulumi Kubernetes provider, from Go modules: about 20 minutes cold, seconds once built.
bash scripts/build-kube.sh
bash scripts/setup-s3-server.sh
echo "[test] type-check"
tsc --noEmit
echo "[test] node --test"
# A backstop against a hang: on node 20 `--test-timeout` bounds each test file (its process gets SIGTERM) and is
# the bound of every test that sets none. The longest file takes about 10 minutes; many tests set tighter bounds.
exec node --import tsx --test --test-reporter=spec --test-timeout="${FLAGDAY_TEST_FILE_TIMEOUT_MS:-1800000}" \
  "${@:-test/**/*.test.ts}"
