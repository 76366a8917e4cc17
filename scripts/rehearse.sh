#!/usr/bin/env bash
# `npm run rehearse`: the main job. Until the rehearsal network lands this runs the engine smoke program.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$FLAGDAY_ROOT"
bash scripts/build-engine.sh
exec node --import tsx --test test/engine/smoke.test.ts
