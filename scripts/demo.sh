#!/usr/bin/env bash
# The demo: builds the library and runs the live monitor — an echo server under a built-in load
# of client connections, with the statistics the original unit's test screen showed.
# Extra arguments go to the monitor (e.g. --seconds 0 to run until Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
ensure_packages "${BUILD_PACKAGES[@]}"
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DTCPSERVER_BUILD_TESTS=OFF -DTCPSERVER_BUILD_BINDINGS=OFF -DTCPSERVER_BUILD_BENCH=OFF >/dev/null
cmake --build build/demo --target monitor
exec build/demo/bin/monitor "$@"
