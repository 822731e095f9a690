#!/usr/bin/env bash
# Checks a built libtcpserver.so against dll/tcpserver.def: its dynamic symbol table defines
# every name of the .def file and nothing else (no C++ internals, no template instantiations
# that a program could bind to by accident) — the same list the Windows DLL exports.
#   check_so_exports.sh <tcpserver.def> <libtcpserver.so>
set -euo pipefail
def=$1 so=$2
[[ -f $so ]] || { echo "FAIL: $so does not exist (build it first)"; exit 1; }
want=$(awk '/^EXPORTS/{on=1; next} on && NF && $1 !~ /^;/ {print $1}' "$def" | sort)
# Defined symbols, without the version node's own absolute symbol.
have=$(nm -D --defined-only "$so" | awk '$2 != "A" {sub(/@.*/, "", $3); print $3}' | sort)
status=0
missing=$(comm -23 <(echo "$want") <(echo "$have"))
extra=$(comm -13 <(echo "$want") <(echo "$have"))
if [[ -n $missing ]]; then echo "FAIL: $so does not export:" $missing; status=1; fi
if [[ -n $extra ]]; then echo "FAIL: $so exports names not in the .def file:" $extra; status=1; fi
if ((status == 0)); then
  echo "ok: $so exports exactly the $(wc -l <<<"$want") names of $(basename "$def")"
fi
exit $status
