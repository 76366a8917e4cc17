#!/usr/bin/env bash
# `npm run rehearse [-- --rollback|--teardown|--keep]`: the flag day on a local network of simulated nodes.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$FLAGDAY_ROOT"
bash scripts/build-engine.sh
exec tsx rehearsal/rehearse.ts "$@"
