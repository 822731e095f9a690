#!/usr/bin/env bash
# The Windows checks, run from Linux: builds tcpserver.dll for x86_64 and i686 with mingw-w64,
# then for each architecture
#   1. the export table against dll/tcpserver.def (tests/windows/check_exports.sh);
#   2. under Wine, the build's CTest suite: the whole GoogleTest suite (tests/unit) and the
#      smoke test (tests/windows/smoke_test.cpp);
#   3. the cross-check: the C conformance sample under Wine serving Linux clients, every byte
#      verified, plus a broadcast round (tests/windows/cross_check.py).
# 32-bit programs need a 32-bit Wine (dpkg --add-architecture i386; apt-get install wine32:i386);
# without it those steps are reported as skipped.
#
#   scripts/windows/test.sh [--exports-only]
#
# Build folders: $TCPSERVER_WIN64_BUILD (default build/win64) and $TCPSERVER_WIN32_BUILD
# (default build/win32); each gets its own WINEPREFIX inside, so runs are reproducible.
# Prints one line per step and "N passed, M failed"; exits 1 if any step failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
exports_only=0
[[ ${1:-} == --exports-only ]] && exports_only=1
win64=${TCPSERVER_WIN64_BUILD:-$root/build/win64}
win32=${TCPSERVER_WIN32_BUILD:-$root/build/win32}
passed=0 failed=0 skipped=0

step() {  # step <name> <command...>
  local name=$1
  shift
  echo "== $name"
  if "$@"; then
    echo "-- PASS: $name"
    passed=$((passed + 1))
  else
    echo "-- FAIL: $name"
    failed=$((failed + 1))
  fi
}

skip() {  # skip <name> <why>
  echo "-- SKIP: $1 ($2)"
  skipped=$((skipped + 1))
}

need() {  # need <program> <apt package>
  command -v "$1" >/dev/null || { echo "missing $1: apt-get install $2"; exit 2; }
}
need x86_64-w64-mingw32-g++-posix g++-mingw-w64-x86-64-posix
need i686-w64-mingw32-g++-posix g++-mingw-w64-i686-posix
need cmake cmake
need ninja ninja-build

build() {  # build <dir> <triple>: the DLL, the C samples, the smoke test and the GoogleTest suite
  local dir=$1 triple=$2
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$root/cmake/mingw-w64-${triple%%-*}.cmake" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTCPSERVER_BUILD_BINDINGS=OFF >/dev/null || return 1
  if ((exports_only)); then
    cmake --build "$dir" --target tcpserver || return 1
    return 0
  fi
  cmake --build "$dir"
}

tests() {  # tests <dir> <wine loader>: the build's CTest suite (GoogleTest + smoke test) under Wine
  # A persistent wineserver, with Wine's services started by a throw-away process first:
  # otherwise the first test process hosts the services and runs until the last test ends.
  local server=/usr/lib/wine/wineserver64
  export WINEPREFIX="$1/wineprefix" WINEDEBUG=-all
  "$server" -p || return 1
  "$2" cmd /c exit >/dev/null 2>&1
  ctest --test-dir "$1" --output-on-failure -j "$(nproc)" --timeout 300
  local rc=$?
  "$server" -k 2>/dev/null
  unset WINEPREFIX WINEDEBUG
  return $rc
}

cross() {  # cross <dir> <wine loader>
  WINEPREFIX="$1/wineprefix" timeout 600 /usr/bin/python3 "$root/tests/windows/cross_check.py" \
    --wine "$2" --server "$1/bin/conformance_server_c.exe"
}

wine64=/usr/lib/wine/wine64
wine32=/usr/lib/wine/wine  # the 32-bit loader, from wine32:i386
for arch in x86_64 i686; do
  if [[ $arch == x86_64 ]]; then dir=$win64 machine=x86-64 loader=$wine64
  else dir=$win32 machine=i386 loader=$wine32; fi
  if ! step "$arch: build" build "$dir" "$arch-w64-mingw32"; then
    continue
  fi
  step "$arch: exports" "$root/tests/windows/check_exports.sh" "$root/dll/tcpserver.def" \
    "$dir/bin/tcpserver.dll" "$machine"
  ((exports_only)) && continue
  if [[ ! -x $loader ]] || ! "$loader" --version >/dev/null 2>&1; then
    why="no $arch Wine: apt-get install wine64"
    [[ $arch == i686 ]] && why="no 32-bit Wine: dpkg --add-architecture i386; apt-get update; apt-get install wine32:i386"
    skip "$arch: GoogleTest suite and smoke test under Wine" "$why"
    skip "$arch: cross-check under Wine" "$why"
    continue
  fi
  [[ $arch == i686 ]] && export WINEARCH=win32  # a fresh 32-bit prefix
  step "$arch: GoogleTest suite and smoke test under Wine" tests "$dir" "$loader"
  step "$arch: cross-check under Wine" cross "$dir" "$loader"
  unset WINEARCH
done

((skipped)) && echo "$skipped skipped"
echo "$passed passed, $failed failed"
((failed == 0))
