#!/usr/bin/env bash
# Makes sure the cross-built OpenSSL that tcpserver.dll links is in the cache before a Windows
# build, so that a cold build (5-10 minutes of CPU per architecture) happens as a step of its
# own, never inside a test's time limit. Says what it does and how long it took.
#
#   scripts/windows/openssl.sh x86_64 [i686]      build what is not cached (scripts/build-openssl-mingw.sh)
#   scripts/windows/openssl.sh --check x86_64     only say whether it is cached (exit 1 if not)
#
# Used by scripts/test.sh (both architectures, before ctest) and scripts/windows/test.sh
# (x86_64, before its builds).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
check_only=0
[[ ${1:-} == --check ]] && { check_only=1; shift; }
status=0
for arch in "$@"; do
  if dir=$(bash "$root/scripts/build-openssl-mingw.sh" --print-dir "$arch" 2>/dev/null); then
    echo "OpenSSL for $arch-w64-mingw32: cached in $dir"
    continue
  fi
  if ((check_only)); then
    echo "OpenSSL for $arch-w64-mingw32: not cached in ${TCPSERVER_CACHE:-$HOME/.cache/tcpserver}" \
         "(build it with: bash scripts/build-openssl-mingw.sh $arch, about 5-10 minutes of CPU, once)"
    status=1
    continue
  fi
  echo "OpenSSL for $arch-w64-mingw32: not cached; building it now from Debian's source" \
       "(about 5-10 minutes of CPU, once: cached in ${TCPSERVER_CACHE:-$HOME/.cache/tcpserver})"
  start=$SECONDS
  if bash "$root/scripts/build-openssl-mingw.sh" "$arch"; then
    secs=$((SECONDS - start))
    echo "OpenSSL for $arch-w64-mingw32: built in $((secs / 60)) min $((secs % 60)) s"
  else
    echo "OpenSSL for $arch-w64-mingw32: the build FAILED (its log is above); tcpserver.dll for" \
         "$arch would have no TLS"
    status=1
  fi
done
exit $status
