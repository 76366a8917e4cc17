#!/usr/bin/env bash
# `npm run pulumi -- <args>`: the project's pinned Pulumi CLI, offline, with the local file backend.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$FLAGDAY_ROOT/scripts/build-engine.sh" >/dev/null
cd "$FLAGDAY_ROOT"
exec pulumi "$@"
