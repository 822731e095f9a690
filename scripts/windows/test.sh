#!/usr/bin/env bash
# The Windows checks, run from Linux: builds tcpserver.dll for x86_64 and i686 with mingw-w64,
# then for each architecture
#   1. the export table against dll/tcpserver.def (tests/windows/check_exports.sh);
#   2. under Wine, the build's CTest suite: the whole GoogleTest suite (tests/unit) and the
#      smoke test (tests/windows/smoke_test.cpp);
#   3. the cross-check: the C conformance sample under Wine serving Linux clients, every byte
#      verified, plus a broadcast round (tests/windows/cross_check.py).
# Whether an architecture's programs run here is decided by running one: the build's configure
# step starts a small program through Wine (cmake/target_runnable.cmake) and records the result
# in its cache (TCPSERVER_TARGET_RUNNABLE). 32-bit programs need a 32-bit Wine (wine32:i386)
# and a kernel that runs 32-bit executables; where they do not run, steps 2 and 3 are reported
# as skipped with the reason.
#
#   scripts/windows/test.sh [--exports-only]
#
# Build folders: $TCPSERVER_WIN64_BUILD (default build/win64) and $TCPSERVER_WIN32_BUILD
# (default build/win32); each gets its own WINEPREFIX inside, so runs are reproducible.
#
# TLS: the DLL links OpenSSL statically (scripts/build-openssl-mingw.sh, cached outside the
# clone). The x86_64 one is required (its TLS tests run under Wine): built first when it is not
# cached (5-10 minutes of CPU, once), unless TCPSERVER_NO_OPENSSL_BUILD=1 (CTest's windows_*
# tests set it: a cold OpenSSL build must not run inside a test's time limit; scripts/test.sh
# builds it before ctest), then its absence fails the run with what to do. The i686 DLL uses its
# OpenSSL when cached and is otherwise built without TLS, said on one line: its programs cannot
# run here (only its exports are checked), and the SDK zip refuses a DLL without TLS.
# --exports-only needs no OpenSSL (a DLL without TLS exports the same names).
# Prints one line per step and "N passed, M failed"; exits 1 if any step failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/scripts/windows/fixed_layout.sh"  # Wine needs a fixed address layout: see there
exports_only=0
[[ ${1:-} == --exports-only ]] && exports_only=1
win64=${TCPSERVER_WIN64_BUILD:-$root/build/win64}
win32=${TCPSERVER_WIN32_BUILD:-$root/build/win32}
source "$root/scripts/windows/steps.sh"

need() {  # need <program> <apt package>
  command -v "$1" >/dev/null || { echo "missing $1: apt-get install $2"; exit 2; }
}
need x86_64-w64-mingw32-g++-posix g++-mingw-w64-x86-64-posix
need i686-w64-mingw32-g++-posix g++-mingw-w64-i686-posix
need cmake cmake
need ninja ninja-build

build() {  # build <dir> <triple>: the DLL, the C samples, the smoke test and the GoogleTest suite
  local dir=$1 triple=$2
  if ((exports_only)); then
    "$root/scripts/windows/cross_build.sh" "$dir" "${triple%%-*}" tcpserver
  else
    "$root/scripts/windows/cross_build.sh" "$dir" "${triple%%-*}"
  fi
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

runnable() {  # runnable <dir>: its configure step ran one of its programs here
  grep -qx 'TCPSERVER_TARGET_RUNNABLE:INTERNAL=ON' "$1/CMakeCache.txt" 2>/dev/null
}

cross() {  # cross <dir> <wine loader>
  WINEPREFIX="$1/wineprefix" timeout 600 /usr/bin/python3 "$root/tests/windows/cross_check.py" \
    --wine "$2" --server "$1/bin/conformance_server_c.exe"
}

openssl() {  # openssl <arch>: the arch's OpenSSL is cached (built here unless told not to)
  if [[ ${TCPSERVER_NO_OPENSSL_BUILD:-0} == 1 ]]; then
    "$root/scripts/windows/openssl.sh" --check "$1" || {
      echo "not built inside a test (it takes 5-10 minutes of CPU): run it first, as scripts/test.sh does"
      return 1
    }
  else
    "$root/scripts/windows/openssl.sh" "$1"
  fi
}

has_tls() {  # has_tls <dir>: the build has the TLS layer (so the DLL carries OpenSSL)
  [[ -f $1/lib/libtcpserver_tls.a ]] || {
    echo "$1 was configured without the TLS layer (see its configure output): tcpserver.dll has no TLS"
    return 1
  }
}

wine64=/usr/lib/wine/wine64
wine32=/usr/lib/wine/wine  # the 32-bit loader, from wine32:i386
for arch in x86_64 i686; do
  if [[ $arch == x86_64 ]]; then dir=$win64 machine=x86-64 loader=$wine64
  else dir=$win32 machine=i386 loader=$wine32; fi
  if [[ $arch == x86_64 ]] && ! ((exports_only)); then
    step "$arch: OpenSSL for tcpserver.dll" openssl "$arch" || continue
  elif ! "$root/scripts/windows/openssl.sh" --check "$arch" >/dev/null; then
    echo "-- NOTE: $arch: no OpenSSL cached, this DLL is built without TLS (bash" \
         "scripts/build-openssl-mingw.sh $arch adds it; the SDK zip needs it)"
  fi
  if ! step "$arch: build" build "$dir" "$arch-w64-mingw32"; then
    continue
  fi
  [[ $arch == x86_64 ]] && ! ((exports_only)) && step "$arch: TLS inside tcpserver.dll" has_tls "$dir"
  step "$arch: exports" "$root/tests/windows/check_exports.sh" "$root/dll/tcpserver.def" \
    "$dir/bin/tcpserver.dll" "$machine"
  ((exports_only)) && continue
  if ! runnable "$dir"; then
    why=$(sed -n 's/^TCPSERVER_TARGET_RUNNABLE_WHY:INTERNAL=//p' "$dir/CMakeCache.txt")
    skip "$arch: GoogleTest suite and smoke test under Wine" "${why:-not decided: configure $dir}"
    skip "$arch: cross-check under Wine" "${why:-not decided: configure $dir}"
    continue
  fi
  [[ $arch == i686 ]] && export WINEARCH=win32  # a fresh 32-bit prefix
  step "$arch: GoogleTest suite and smoke test under Wine" tests "$dir" "$loader"
  step "$arch: cross-check under Wine" cross "$dir" "$loader"
  unset WINEARCH
done

summary
