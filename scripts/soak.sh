#!/usr/bin/env bash
# The soak test (tests/reliability/soak_test.cpp) for as long as you like:
#   bash scripts/soak.sh 3600          # one hour, 1 000 links
#   bash scripts/soak.sh 600 3000      # ten minutes, 3 000 links
# Builds the release configuration first (without bindings and samples if it is not there yet).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3600}
links=${2:-1000}
if [ ! -f build/release/CMakeCache.txt ]; then
  cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTCPSERVER_SANITIZE= \
        -DTCPSERVER_BUILD_BINDINGS=OFF -DTCPSERVER_BUILD_SAMPLES=OFF >/dev/null
fi
cmake --build build/release --target tcpserver_soak
TCPSERVER_SOAK_SECONDS=$seconds TCPSERVER_SOAK_LINKS=$links \
  ctest --test-dir build/release -L soak --verbose --timeout $((seconds + 600))
