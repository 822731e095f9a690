#!/usr/bin/env bash
# Acceptance of the .deb pair (CTest packaging_deb), made by `--target packages`:
#   1. control fields: names, versions, Depends (libc6, libstdc++6, libgcc-s1 from
#      dpkg-shlibdeps; libtcpserver-dev on the same libtcpserver1), a shlibs file;
#   2. `dpkg --root=<scratch> -i` of both, with a package database copied from this machine, so
#      dpkg checks the Depends against what is really installed; the postinst's ldconfig is
#      run chrootless against a stand-in that only records the call (this machine's own
#      library cache is left alone);
#   3. programs build against the unpacked tree and run: a plain cc build, pkg-config (with
#      PKG_CONFIG_SYSROOT_DIR), and the CMake consumer (CMAKE_PREFIX_PATH=<scratch>/usr);
#   4. `dpkg --root -r` removes both and leaves no file behind.
#
#   check_deb.sh <packages dir> <scratch dir>
set -uo pipefail
packages=$1 work=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
rm -rf "$work" && mkdir -p "$work"

runtime=$(ls "$packages"/libtcpserver[0-9]*_*.deb 2>/dev/null | head -1)
dev=$(ls "$packages"/libtcpserver-dev_*.deb 2>/dev/null | head -1)
if [[ -z $runtime || -z $dev ]]; then
  echo "FAIL: no libtcpserver<N>_*.deb and libtcpserver-dev_*.deb in $packages (cmake --build <build> --target packages)"
  exit 1
fi
field() { dpkg-deb -f "$1" "$2"; }
pkg=$(field "$runtime" Package) version=$(field "$runtime" Version)

control_fields() {
  local depends
  depends=$(field "$runtime" Depends)
  for lib in libc6 libstdc++6 libgcc-s1; do
    [[ ", $depends" == *", $lib (>= "* ]] || { echo "Depends lacks $lib (>= ...): $depends"; return 1; }
  done
  [[ $(field "$dev" Depends) == *"$pkg (= $version)"* ]] ||
    { echo "libtcpserver-dev Depends: $(field "$dev" Depends), want $pkg (= $version)"; return 1; }
  [[ $(field "$runtime" Section) == libs && $(field "$dev" Section) == libdevel ]] ||
    { echo "sections: $(field "$runtime" Section) / $(field "$dev" Section)"; return 1; }
  dpkg-deb -I "$runtime" shlibs | grep -Eq "^libtcpserver [0-9]+ $pkg \(>= " ||
    { echo "no shlibs line for libtcpserver"; return 1; }
}
check "control fields of $pkg $version and libtcpserver-dev" control_fields

root=$work/root
admin=$root/var/lib/dpkg
stubs=$work/stubs
mkdir -p "$admin/info" "$admin/updates" "$admin/triggers" "$stubs"
cp /var/lib/dpkg/status "$admin/status"  # what this machine has installed: Depends are real
touch "$admin/available"
# dpkg wants these on PATH; the postinst's ldconfig must not rebuild this machine's cache.
printf '#!/bin/sh\necho "ldconfig $*" >>"%s"\n' "$work/ldconfig.calls" >"$stubs/ldconfig"
chmod +x "$stubs/ldconfig"
ln -sf "$(command -v start-stop-daemon || echo /sbin/start-stop-daemon)" "$stubs/start-stop-daemon"
dpkg_root() { PATH="$stubs:$PATH:/usr/sbin:/sbin" dpkg --root="$root" --force-script-chrootless "$@"; }

check "dpkg -i into a scratch root (Depends checked against this machine)" dpkg_root -i "$runtime" "$dev"
installed() {
  for p in "$pkg" libtcpserver-dev; do
    dpkg_root -s "$p" | grep -q '^Status: install ok installed' || { dpkg_root -s "$p"; return 1; }
  done
}
check "both packages are installed and configured" installed
check "the postinst ran ldconfig" test -s "$work/ldconfig.calls"
libdir=$(dirname "$(find "$root/usr" -name 'libtcpserver.so.1' | head -1)")
unpacked() {
  for f in "$root/usr/include/tcpserver.h" "$root/usr/include/tcpserver.hpp" "$libdir/libtcpserver.so" \
           "$libdir/cmake/tcpserver/tcpserverConfig.cmake" "$libdir/pkgconfig/tcpserver.pc" \
           "$root/usr/share/doc/tcpserver/LICENSE"; do
    [[ -e $f ]] || { echo "missing ${f#"$root"}"; return 1; }
  done
}
check "files in place (${libdir#"$root"})" unpacked

plain_build() {
  cc -o "$work/plain" "$here/consumer/echo_check.c" -I"$root/usr/include" -L"$libdir" -ltcpserver \
     -Wl,-rpath,"$libdir"
}
check "cc -ltcpserver builds against the unpacked package" plain_build
check "that program serves an echo from the package's library" \
  expect_output "^echo ok tcpserver ${version%-*}\$" "$work/plain"
check "that program loads the package's library" loads_from "$libdir" "$work/plain"

pc() { PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_LIBDIR="$libdir/pkgconfig" pkg-config "$@"; }
pc_build() {
  # shellcheck disable=SC2046 # the flags are words
  cc -o "$work/pc" "$here/consumer/echo_check.c" $(pc --cflags --libs tcpserver) -Wl,-rpath,"$libdir"
}
check "pkg-config (sysroot) builds against the package" pc_build
check "that program serves an echo" expect_output "^echo ok" "$work/pc"

cmake_build() {
  cmake -S "$here/consumer" -B "$work/consumer" "${generator[@]}" -DCMAKE_PREFIX_PATH="$root/usr" &&
    cmake --build "$work/consumer"
}
check "find_package(tcpserver) finds the package's CMake files and builds" cmake_build
check "the CMake-built program serves an echo" expect_output "^echo ok" "$work/consumer/echo_check"
check "it loads the package's library" loads_from "$libdir" "$work/consumer/echo_check"

removed() {
  dpkg_root -r libtcpserver-dev "$pkg" || return 1
  local left
  left=$(find "$root/usr" -name '*tcpserver*')
  [[ -z $left ]] || { echo "left behind: $left"; return 1; }
}
check "dpkg -r removes both, leaving no file" removed

summary
