#!/usr/bin/env bash
# The Windows checks, run from Linux: builds tcpserver.dll for x86_64 and i686 with mingw-w64,
# then for each architecture
#   1. the export table against dll/tcpserver.def (tests/windows/check_exports.sh);
#   2. the smoke test under Wine (tests/windows/smoke_test.cpp);
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

build() {  # build <dir> <triple>: the DLL, the C conformance sample and the smoke test
  local dir=$1 triple=$2
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$root/cmake/mingw-w64-${triple%%-*}.cmake" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTCPSERVER_BUILD_BINDINGS=OFF \
        -DTCPSERVER_BUILD_TESTS=OFF >/dev/null || return 1
  if ((exports_only)); then
    cmake --build "$dir" --target tcpserver || return 1
    return 0
  fi
  cmake --build "$dir" --target tcpserver conformance_server_c || return 1
  # Compiled directly: the Windows build configures without tests (no GoogleTest for mingw).
  local exe=$dir/bin/tcpserver_win_smoke.exe src=$root/tests/windows
  if [[ ! -f $exe || $src/smoke_test.cpp -nt $exe || $src/smoke_support.cpp -nt $exe ||
        $src/smoke_support.h -nt $exe || $root/dll/include/tcpserver.h -nt $exe ]]; then
    "$triple-g++-posix" -std=c++17 -O2 -Wall -Wextra -I"$root/dll/include" \
      "$src/smoke_test.cpp" "$src/smoke_support.cpp" -o "$exe.tmp" \
      "$dir/lib/libtcpserver.dll.a" -lws2_32 -static && mv "$exe.tmp" "$exe"
  fi
}

smoke() {  # smoke <dir> <wine loader>
  (cd "$1/bin" && WINEPREFIX="$1/wineprefix" WINEDEBUG=-all timeout 600 "$2" tcpserver_win_smoke.exe)
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
    skip "$arch: smoke test under Wine" "$why"
    skip "$arch: cross-check under Wine" "$why"
    continue
  fi
  [[ $arch == i686 ]] && export WINEARCH=win32  # a fresh 32-bit prefix
  step "$arch: smoke test under Wine" smoke "$dir" "$loader"
  step "$arch: cross-check under Wine" cross "$dir" "$loader"
  unset WINEARCH
done

((skipped)) && echo "$skipped skipped"
echo "$passed passed, $failed failed"
((failed == 0))
