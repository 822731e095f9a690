#!/usr/bin/env bash
# Acceptance of the Python wheel (CTest packaging_wheel), made by `--target packages`:
#   1. one tcpserver-<version>-py3-none-linux_<arch>.whl, version that of tcpserver.h, holding
#      the library, py.typed, the asyncio bridge and the licence;
#   2. a fresh venv (python3 -m venv, Debian's python3-venv) installs it offline
#      (pip install --no-index) and, with no environment variable of ours, serves an echo on
#      Server and AsyncServer (wheel_echo.py);
#   3. the asyncio bridge's tests (bindings/python/tests/test_aio.py) pass against the
#      installed package: Debian's pytest, the venv's site-packages first on the path.
#
#   check_wheel.sh <packages dir> <repository> <scratch dir>
set -uo pipefail
packages=$1 source=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
rm -rf "$work" && mkdir -p "$work"

version=$(sed -nE 's/^#define TCPSERVER_VERSION_(MAJOR|MINOR|PATCH) +([0-9]+).*/\2/p' \
          "$source/dll/include/tcpserver.h" | paste -sd.)
wheels=("$packages"/tcpserver-*.whl)
if [[ ${#wheels[@]} -ne 1 || ! -f ${wheels[0]} ]]; then
  echo "FAIL: want one tcpserver-*.whl in $packages, found: ${wheels[*]} (cmake --build <build> --target packages)"
  exit 1
fi
wheel=${wheels[0]}

contents() {
  local name listing
  name=$(basename "$wheel")
  [[ $name == "tcpserver-$version-py3-none-linux_$(uname -m).whl" ]] ||
    { echo "$name: want tcpserver-$version-py3-none-linux_$(uname -m).whl"; return 1; }
  listing=$(/usr/bin/python3 -m zipfile -l "$wheel") || return 1
  for file in tcpserver/libtcpserver.so tcpserver/py.typed tcpserver/aio.py tcpserver/_abi.py \
              "tcpserver-$version.dist-info/LICENSE" "tcpserver-$version.dist-info/WHEEL"; do
    grep -q "^$file " <<<"$listing" || { echo "the wheel lacks $file:"; echo "$listing"; return 1; }
  done
}
check "$(basename "$wheel"): name, version $version, contents" contents

venv=$work/venv
# Nothing of ours in the environment: the installed package must find its own library.
clean=(env -i "PATH=/usr/bin:/bin" "HOME=$work" "LANG=C.UTF-8")
install() {
  "${clean[@]}" /usr/bin/python3 -m venv "$venv" &&
    "${clean[@]}" "$venv/bin/python" -m pip install --no-index --no-deps --disable-pip-version-check \
      --no-cache-dir "$wheel"
}
check "a fresh venv installs the wheel offline (pip install --no-index)" install
check "the installed package serves an echo with no environment variable set" \
  expect_output "echoed on Server and AsyncServer" \
  bash -c "cd '$work' && ${clean[*]} '$venv/bin/python' '$here/wheel_echo.py' '$venv'"

site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
tests=("$source/bindings/python/tests/test_aio.py"
       "$source/bindings/python/tests/test_loading.py::test_import_reads_docs_and_enums_without_the_library")
check "the asyncio bridge's tests pass on the installed package" \
  expect_output "^[0-9]+ passed" \
  bash -c "cd '$work' && ${clean[*]} PYTHONPATH='$site' PYTHONDONTWRITEBYTECODE=1 \
           /usr/bin/python3 -m pytest -q -p no:cacheprovider ${tests[*]}"
summary
