#!/usr/bin/env bash
# Sets everything up, then runs the whole test suite (unit, C, and e2e with real VMs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
node_modules/.bin/bun test "$@"
