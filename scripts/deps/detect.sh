#!/usr/bin/env bash
# Dependencies of ward-detect's tests: none outside Cargo. The tests read
# ../shared/data (SigmaHQ rules, SigmaHQ regression data, EVTX samples) and
# fail with a clear message when it is missing. Fuzzing (optional, not part of
# the test suite) needs `cargo install cargo-fuzz` and a nightly toolchain.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
data="${WARD_SHARED_DATA:-$repo/../shared/data}"
for d in sigma/rules sigma-regression/regression_data evtx; do
    if [ ! -d "$data/$d" ]; then
        echo "scripts/deps/detect.sh: missing $data/$d (set WARD_SHARED_DATA)" >&2
        exit 1
    fi
done
echo "ward-detect: no external dependencies to install"
