#!/usr/bin/env bash
# Checks a built tcpserver.dll against dll/tcpserver.def:
#  - the export table lists every name of the .def file, undecorated (PostSend, not
#    _PostSend@12 or PostSend@12: Delphi binds with `external 'tcpserver.dll' name 'PostSend'`),
#    and nothing else;
#  - the DLL needs no MinGW runtime DLL (libgcc, libstdc++, libwinpthread) next to it;
#  - the machine type is the expected one.
#   check_exports.sh <tcpserver.def> <tcpserver.dll> <i386|x86-64>
set -euo pipefail
def=$1 dll=$2 arch=$3
objdump=""
for tool in x86_64-w64-mingw32-objdump i686-w64-mingw32-objdump objdump; do
  if command -v "$tool" >/dev/null; then objdump=$tool; break; fi
done
[[ -n $objdump ]] || { echo "no objdump: install binutils-mingw-w64-x86-64"; exit 2; }
[[ -f $dll ]] || { echo "FAIL: $dll does not exist (build it first)"; exit 1; }

dump=$("$objdump" -p "$dll")
want=$(awk '/^EXPORTS/{on=1; next} on && NF && $1 !~ /^;/ {print $1}' "$def" | sort)
have=$(awk '/\[Ordinal\/Name Pointer\] Table/{on=1; next} on && /^[ \t]*\[ *[0-9]+\]/ {print $NF; next}
            on && !NF {on=0}' <<<"$dump" | sort)
status=0
missing=$(comm -23 <(echo "$want") <(echo "$have"))
extra=$(comm -13 <(echo "$want") <(echo "$have"))
if [[ -n $missing ]]; then echo "FAIL: $dll does not export (undecorated):" $missing; status=1; fi
if [[ -n $extra ]]; then echo "FAIL: $dll exports names not in the .def file:" $extra; status=1; fi
if grep -q '@' <<<"$have"; then echo "FAIL: decorated export names in $dll"; status=1; fi

runtime=$(grep -iE 'DLL Name: *(libgcc|libstdc|libwinpthread)' <<<"$dump" || true)
if [[ -n $runtime ]]; then echo "FAIL: $dll needs MinGW runtime DLLs:" $runtime; status=1; fi

format=$(grep -m1 'file format' <<<"$dump" || true)
case $arch in
  i386) [[ $format == *pei-i386* ]] || { echo "FAIL: $dll is not a 32-bit DLL ($format)"; status=1; } ;;
  x86-64) [[ $format == *pei-x86-64* ]] || { echo "FAIL: $dll is not a 64-bit DLL ($format)"; status=1; } ;;
esac
if ((status == 0)); then
  echo "ok: $dll exports all $(wc -l <<<"$want") names of $(basename "$def") undecorated ($arch)"
fi
exit $status
