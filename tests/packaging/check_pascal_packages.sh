#!/usr/bin/env bash
# The Delphi and Lazarus packages (CTest packaging_pascal_packages), in a copy of
# bindings/pascal under the scratch folder (compilers write their units beside a package):
#   1. the runtime and design-time .dpk and the .lpk name files that exist, and the .lpk holds
#      the units of both .dpk (FPC cannot compile a .dpk itself);
#   2. Free Pascal compiles every unit they contain ({$mode delphi}, as Delphi would see them);
#   3. no unit takes {$IFNDEF FPC} for Windows (Delphi also targets Linux64): Windows-only code
#      is under {$IFDEF MSWINDOWS};
#   4. lazbuild builds the .lpk (Debian's lcl-utils-2.2 and lazarus-src-2.2; Lazarus' own FCL
#      registration package, which every .lpk requires, is built first: compiled into
#      /usr/lib/lazarus the first time, then found up to date).
#
#   check_pascal_packages.sh <repository> <scratch dir>
set -uo pipefail
source_dir=$1 work=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
rm -rf "$work" && mkdir -p "$work"
cp -r "$source_dir/bindings/pascal" "$work/pascal"
packages=$work/pascal/packages

# Units as the package files name them: "Unit in '..\File.pas'" (dpk) / Filename (lpk).
dpk_units() { sed -nE "s/^ *([A-Za-z0-9_]+) in '\.\.\\\\([A-Za-z0-9_]+\.pas)'[,;]/\1 \2/p" "$1"; }
lpk_units() { sed -nE 's/.*<Filename Value="\.\.\/([A-Za-z0-9_]+\.pas)"\/>.*/\1/p' "$1"; }

listed() {
  local dpk_files lpk_files
  dpk_files=$( (dpk_units "$packages/TcpServerRT.dpk"; dpk_units "$packages/TcpServerDT.dpk") |
               awk '{print $2}' | sort)
  lpk_files=$(lpk_units "$packages/tcpserver_laz.lpk" | sort)
  [[ -n $dpk_files ]] || { echo "no 'Unit in '..\\File.pas'' lines in the .dpk files"; return 1; }
  [[ $dpk_files == "$lpk_files" ]] ||
    { echo "the .dpk files contain:"; echo "$dpk_files"; echo "the .lpk:"; echo "$lpk_files"; return 1; }
  for file in $dpk_files; do
    [[ -f $work/pascal/$file ]] || { echo "$file is listed but not in bindings/pascal"; return 1; }
  done
  grep -q "^  TcpServerRT;" "$packages/TcpServerDT.dpk" ||
    { echo "TcpServerDT.dpk does not require TcpServerRT"; return 1; }
  grep -q '{\$DESIGNONLY}' "$packages/TcpServerDT.dpk" && grep -q '{\$RUNONLY}' "$packages/TcpServerRT.dpk" ||
    { echo "TcpServerDT must be DESIGNONLY, TcpServerRT RUNONLY"; return 1; }
}
check "the .dpk pair and the .lpk name the same existing units" listed

compile_units() {
  local unit
  mkdir -p "$work/units"
  for unit in $( (dpk_units "$packages/TcpServerRT.dpk"; dpk_units "$packages/TcpServerDT.dpk") |
                 awk '{print $2}'); do
    fpc -Mdelphi -vew -l- -FU"$work/units" -Fu"$work/pascal" -Fi"$work/pascal" \
        "$work/pascal/$unit" || { echo "fpc failed on $unit"; return 1; }
  done
}
check "Free Pascal compiles every unit of TcpServerRT and TcpServerDT" compile_units

no_fpc_as_windows() {
  local found
  found=$(grep -n 'IFNDEF FPC' "$work"/pascal/*.pas) && { echo "$found"; return 1; }
  return 0
}
check "no unit stands {\$IFNDEF FPC} for Windows" no_fpc_as_windows

lazarus=/usr/lib/lazarus/default
lazbuild_package() {
  local home=$work/lazarus-home
  mkdir -p "$home"
  # Registers (and, the first time, compiles) the FCL package that every .lpk requires.
  HOME=$home lazbuild --lazarusdir="$lazarus" "$lazarus/packager/registration/fcl.lpk" ||
    { echo "lazbuild could not build Lazarus' FCL registration package"; return 1; }
  HOME=$home lazbuild --lazarusdir="$lazarus" "$packages/tcpserver_laz.lpk" &&
    ls "$packages"/lib/*/TcpServerComponent.ppu "$packages"/lib/*/TcpServerReg.ppu
}
if command -v lazbuild >/dev/null && [[ -f $lazarus/packager/registration/fcl.lpk ]]; then
  check "lazbuild builds tcpserver_laz.lpk" lazbuild_package
else
  echo "FAIL: lazbuild or the Lazarus sources are missing (install lcl-utils-2.2 lazarus-src-2.2: scripts/deps.sh)"
  failed=$((failed + 1))
fi
summary
