#!/usr/bin/env bash
# `npm run bench`: prints BENCH lines (graph construction under mocks; flag-day downtime through the engine).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$FLAGDAY_ROOT"
bash scripts/build-engine.sh >/dev/null
exec tsx bench/index.ts "$@"
