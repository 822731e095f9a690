#!/usr/bin/env bash
# The benchmark suite in one command: installs what it needs from Debian's packages, builds the
# library, the samples and bench/ in build/bench (release, no tests), then runs every scenario
# against every server (bench/run.py) and writes bench/RESULTS.md.
#   bash bench/run.sh                 # 5 interleaved runs of 3 s per scenario and server
#   bash bench/run.sh --smoke         # everything briefly; fails only if something does not work
#   bash bench/run.sh --runs 3 --only echo64,bcast --out /tmp/r.md
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
ensure_packages "${BUILD_PACKAGES[@]}" "${BENCH_PACKAGES[@]}"
build=build/bench
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTCPSERVER_SANITIZE= \
      -DTCPSERVER_BUILD_TESTS=OFF -DTCPSERVER_BUILD_SAMPLES=ON -DTCPSERVER_BUILD_BINDINGS=ON \
      -DTCPSERVER_BUILD_BENCH=ON >/dev/null
cmake --build "$build"
args=("$@")
if [[ " $* " != *" --out "* && " $* " != *" --smoke "* ]]; then args+=(--out bench/RESULTS.md); fi
export BENCH_COMMAND="bash bench/run.sh${*:+ $(printf '%q ' "$@")}"  # for the report
exec python3 bench/run.py --build-dir "$build" "${args[@]}"
