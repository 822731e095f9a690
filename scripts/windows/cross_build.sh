#!/usr/bin/env bash
# Configures and builds one mingw-w64 cross build of tcpserver. The one place that says how:
# scripts/windows/test.sh, scripts/windows/pascal.sh and the `packages` target's Windows SDK zip
# (packaging/windows_sdk.cmake) all use it, so they share build folders without reconfiguring
# them for each other.
#
#   scripts/windows/cross_build.sh <build dir> <x86_64|i686> [target...]   (no target: all)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=$1 arch=$2
shift 2
case $arch in x86_64 | i686) ;; *) echo "cross_build.sh: architecture x86_64 or i686, not $arch" >&2; exit 2 ;; esac
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$root/cmake/mingw-w64-$arch.cmake" \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTCPSERVER_BUILD_BINDINGS=OFF >/dev/null
targets=()
for target in "$@"; do targets+=(--target "$target"); done
cmake --build "$dir" "${targets[@]}"
