#!/usr/bin/env bash
# Sets everything up, then runs the whole test suite (unit, C, and e2e with real VMs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
# Types and style first: they fail in seconds, the suite takes minutes.
node_modules/.bin/tsc --noEmit -p .
node_modules/.bin/biome check .
# VM tests boot real guests under TCG: a loaded 2-core machine can take many seconds per
# test. The flag, not only test/preload.ts's setDefaultTimeout, which did not reach every
# file in one CI run (a test died at 5 s).
node_modules/.bin/bun test --timeout 180000 "$@"
