#!/usr/bin/env bash
# The Pascal binding on Windows, checked from Linux: win64 programs compiled by Free Pascal
# (Debian's ppcx64 targets win64; its RTL comes from scripts/windows/fpc_win64_rtl.sh, cached)
# and run under Wine against the win64 tcpserver.dll of the cross build:
#   1. the binding's tests (bindings/pascal/tests): test_imports, test_binding, test_class,
#      test_component (the palette component: TThread.Queue, streaming, RTTI),
#      original_program (no_thread_manager is about cthreads, which Windows does not have);
#   2. the conformance suite (tests/conformance, pytest) against the win64 build of
#      samples/pascal/conformance_server.pas, driven from Linux through Wine.
# win32 is not built. Debian 12 ships no i386 cross compiler for amd64: ppc386 comes only in
# fp-compiler:i386, a 32-bit program this kernel refuses to run (as it refuses the win32
# programs it would make); a ppcross386 cannot be built from fpc-source-3.2.2 either, which
# lacks the compiler's message files (compiler/msg, for msgtxt.inc).
#
#   scripts/windows/pascal.sh [--harness <folder of tsharness*.so>] [pytest arguments...]
#
# --harness: the conformance suite's native clients, from a Linux build (default
# build/release/bin). Build folder: $TCPSERVER_WIN64_BUILD (default build/win64), whose Wine
# prefix it shares; the Pascal programs go to <it>/pascal/. Prints one line per step and
# "N passed, M failed"; exits 1 if any step failed, 2 if something it needs is missing.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/scripts/windows/fixed_layout.sh"  # Wine needs a fixed address layout: see there
win64=${TCPSERVER_WIN64_BUILD:-$root/build/win64}
harness=$root/build/release/bin
if [[ ${1:-} == --harness ]]; then
  harness=$2
  shift 2
fi
wine=/usr/lib/wine/wine64
server=/usr/lib/wine/wineserver64
out=$win64/pascal
source "$root/scripts/windows/steps.sh"

[[ -x $wine ]] || { echo "missing $wine: apt-get install wine64"; exit 2; }
ls "$harness"/tsharness*.so >/dev/null 2>&1 ||
  { echo "no tsharness*.so in $harness: build the Linux tree first (cmake --build build/release)"; exit 2; }
units=$("$root/scripts/windows/fpc_win64_rtl.sh" | tail -1) || { echo "the win64 RTL did not build"; exit 2; }

dll() {
  "$root/scripts/windows/cross_build.sh" "$win64" x86_64 tcpserver &&
    mkdir -p "$out" && cp "$win64/bin/tcpserver.dll" "$out/"  # next to the programs
}
step "x86_64: tcpserver.dll (cross build $win64)" dll
((failed == 0)) || { summary; exit 1; }

compile() {  # compile <program.pas> [unit folder...]: $out/<program>.exe
  local main=$1 name
  name=$(basename "$main" .pas)
  shift
  local flags=(-Fu"$units" -Fu"$root/bindings/pascal" -Fi"$root/bindings/pascal")
  for dir in "$@"; do flags+=(-Fu"$dir"); done
  rm -rf "$out/units/$name" && mkdir -p "$out/units/$name"
  # -n: not this machine's fpc.cfg (Linux units); -B: every unit from source, into its own folder.
  ppcx64 -Twin64 -n -B -O2 -vew "${flags[@]}" -FU"$out/units/$name" -o"$out/$name.exe" "$main"
}
tests=(test_imports test_binding test_class test_component original_program)
for program in "${tests[@]}"; do
  step "win64: compile $program" compile "$root/bindings/pascal/tests/$program.pas" \
    "$root/bindings/pascal/tests"
done
step "win64: compile conformance_server" compile "$root/samples/pascal/conformance_server.pas"

# One persistent wineserver for this prefix, with Wine's services started by a throw-away
# process (else the first test would host them, holding its output open until they exit).
export WINEPREFIX=$win64/wineprefix WINEDEBUG=-all
"$server" -p
"$wine" cmd /c exit >/dev/null 2>&1

run_test() {  # run_test <program>: exit 0 and "N passed, 0 failed"
  local log=$out/$1.log
  (cd "$out" && timeout 300 "$wine" "$1.exe" "$root/dll/include/tcpserver.h") >"$log" 2>&1
  local rc=$?
  grep -v '^ok ' "$log" | tail -20
  ((rc == 0)) && grep -Eq '^[0-9]+ passed, 0 failed' "$log"
}
for program in "${tests[@]}"; do
  [[ -f $out/$program.exe ]] && step "win64 under Wine: $program" run_test "$program"
done

conformance() {
  # WINEPREFIX and WINEDEBUG are exported above; the suite starts one server per test.
  TS_SERVER_CMD="\"$wine\" \"$out/conformance_server.exe\"" TS_CONFORMANCE_WINDOWS=1 \
    PYTHONPATH="$harness:$root/bindings/python" PYTHONDONTWRITEBYTECODE=1 \
    timeout 1800 /usr/bin/python3 -m pytest -q -p no:cacheprovider "$root/tests/conformance" "$@"
}
[[ -f $out/conformance_server.exe ]] &&
  step "win64 under Wine: conformance suite against the Pascal sample" conformance "$@"

"$server" -k 2>/dev/null
summary
