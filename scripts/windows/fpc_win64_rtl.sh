#!/usr/bin/env bash
# Builds the Free Pascal 3.2.2 run-time library for win64, plus the few package units the Pascal
# binding, its tests and the conformance sample use, from Debian's fpc-source-3.2.2, so this
# machine's ppcx64 (which targets win64, but comes with Linux units only) can compile Windows
# programs. Prints the folder of the units (for -Fu) on its last line.
#
#   scripts/windows/fpc_win64_rtl.sh
#
# Cached outside the clone: ${TCPSERVER_CACHE:-$HOME/.cache/tcpserver}/fpc-3.2.2-win64/, reused
# when its stamp is there (about 30 s of compiling otherwise). Delete the folder to rebuild.
#
# The units are compiled directly with ppcx64, in the order rtl/win64/Makefile.fpc gives
# (system, then objpas, then buildrtl, which pulls in the rest of the RTL: sysutils, classes,
# windows, ...): Debian's fpc-source ships the Makefile.fpc files but not the generated
# Makefiles, nor rtl/x86_64/makefile.cpu, so `make OS_TARGET=win64` would first need fpcmake
# and a hand-written makefile.cpu; five compiler calls need neither. Package units:
#   syncobjs            packages/fcl-base  (TcpServerClass)
#   winsock2, sockets   packages/rtl-extra (the tests' client sockets)
set -euo pipefail
version=3.2.2
src=/usr/share/fpcsrc/$version
cache=${TCPSERVER_CACHE:-$HOME/.cache/tcpserver}/fpc-$version-win64
units=$cache/units
stamp=$cache/.built

mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"
flock 9  # one build at a time; a second caller waits and then finds the stamp
if [[ -f $stamp ]]; then
  echo "$units"
  exit 0
fi
command -v ppcx64 >/dev/null || { echo "ppcx64 missing: apt-get install fp-compiler" >&2; exit 2; }
[[ -f $src/rtl/win64/system.pp ]] ||
  { echo "$src missing: apt-get install fpc-source-$version" >&2; exit 2; }
[[ $(ppcx64 -iV) == "$version" ]] ||
  { echo "ppcx64 is $(ppcx64 -iV), the sources are $version" >&2; exit 2; }

rm -rf "$cache"
mkdir -p "$units"
log=$cache/build.log
rtl=$src/rtl
pkg=$src/packages
# -n: not this machine's fpc.cfg (it points at the Linux units).
compile() {
  (cd "$rtl/win64" && ppcx64 -Twin64 -n -O2 -FU"$units" -Fu"$units" \
     -Fi"$rtl/inc" -Fi"$rtl/x86_64" -Fi"$rtl/win" -Fi"$rtl/win/wininc" "$@") >>"$log" 2>&1 ||
    { echo "compiling $* for win64 failed; the end of $log:" >&2; tail -20 "$log" >&2; exit 1; }
}
echo "Building the Free Pascal $version win64 RTL into $units (log: $log)" >&2
compile -Us -Sg system.pp
compile "$rtl/inc/uuchar.pp"
compile -Fi"$rtl/objpas" "$rtl/objpas/objpas.pp"
compile -Fi"$rtl/objpas/sysutils" -Fi"$rtl/objpas/classes" -Fi"$rtl/objpas" \
        -Fu"$rtl/x86_64" -Fu"$rtl/win/wininc" -Fu"$rtl/win" -Fu"$rtl/inc" -Fu"$rtl/objpas" buildrtl.pp
compile "$rtl/inc/lineinfo.pp"
compile "$rtl/inc/lnfodwrf.pp"
compile -Fi"$pkg/fcl-base/src" "$pkg/fcl-base/src/syncobjs.pp"
compile -Fi"$pkg/rtl-extra/src/win" -Fi"$pkg/rtl-extra/src/inc" "$pkg/rtl-extra/src/win/winsock2.pp"
compile -Fi"$pkg/rtl-extra/src/win" -Fi"$pkg/rtl-extra/src/inc" "$pkg/rtl-extra/src/win/sockets.pp"
for unit in system sysutils classes windows syncobjs winsock2 sockets; do
  [[ -f $units/$unit.ppu ]] || { echo "no $unit.ppu after the build (see $log)" >&2; exit 1; }
done
date -u +%FT%TZ >"$stamp"
echo "$units"
