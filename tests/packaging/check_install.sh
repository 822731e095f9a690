#!/usr/bin/env bash
# Acceptance of the install rules and the CMake package (CTest packaging_install):
#   1. `cmake --install <build> --prefix <tmp>` installs the library, both headers, the CMake
#      package, tcpserver.pc, LICENSE and the notices, and not the SDK's extras;
#   2. a separate project (tests/packaging/consumer) with find_package(tcpserver CONFIG
#      REQUIRED) + tcpserver::tcpserver builds against it, and its C and C++ programs serve
#      an echo, loading the installed library;
#   3. find_package takes 1.0 and refuses 2.0 and 1.99 (SameMajorVersion);
#   4. `cc $(pkg-config --cflags --libs tcpserver)` builds the same C program, which runs;
#   5. the same project builds against the build tree (tcpserver_DIR=<build>/packaging);
#   6. a parent project that add_subdirectory()s the source gets the library and
#      tcpserver::tcpserver, and none of the tests, samples, bindings or benchmarks.
#
#   check_install.sh <build dir> <source dir> <scratch dir>
set -uo pipefail
build=$1 src=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
rm -rf "$work" && mkdir -p "$work"
prefix=$work/prefix
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")

check "cmake --install into $prefix" cmake --install "$build" --prefix "$prefix"
libdir=$prefix/$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$build/CMakeCache.txt")
installed_files() {
  for f in include/tcpserver.h include/tcpserver.hpp share/doc/tcpserver/LICENSE \
           share/doc/tcpserver/THIRD-PARTY-NOTICES.txt; do
    [[ -f $prefix/$f ]] || { echo "missing $f"; return 1; }
  done
  for f in libtcpserver.so libtcpserver.so.1 "libtcpserver.so.$version" \
           cmake/tcpserver/tcpserverConfig.cmake cmake/tcpserver/tcpserverConfigVersion.cmake \
           pkgconfig/tcpserver.pc; do
    [[ -e $libdir/$f ]] || { echo "missing $libdir/$f"; return 1; }
  done
  [[ ! -e $prefix/bindings && ! -e $prefix/LICENSE ]] || { echo "the SDK's extras were installed"; return 1; }
}
check "installed: library, headers, CMake package, tcpserver.pc, licence; no SDK extras" installed_files

configure_consumer() {  # configure_consumer <build dir> <cmake args...>
  local dir=$1
  shift
  cmake -S "$here/consumer" -B "$dir" "${generator[@]}" "$@"
}
check "find_package(tcpserver CONFIG REQUIRED): consumer configures" \
  configure_consumer "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" -DTS_WANT_VERSION="$version"
check "consumer builds (target_link_libraries(app tcpserver::tcpserver))" \
  cmake --build "$work/consumer"
check "C program serves an echo" expect_output "^echo ok tcpserver $version\$" "$work/consumer/echo_check"
check "C program loads the installed library" loads_from "$libdir" "$work/consumer/echo_check"
check "C++ program (tcpserver.hpp) serves an echo" expect_output "^c\+\+ echo ok\$" "$work/consumer/echo_check_cpp"

# Version checks need no compiler: a project without languages.
mkdir -p "$work/version_probe"
cat >"$work/version_probe/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.20)
project(version_probe LANGUAGES NONE)
find_package(tcpserver ${WANT} CONFIG REQUIRED)
EOF
probe() {  # probe <version>
  rm -rf "$work/version_probe/build"
  cmake -S "$work/version_probe" -B "$work/version_probe/build" -DWANT="$1" -DCMAKE_PREFIX_PATH="$prefix"
}
refused() { ! probe "$1"; }
check "find_package(tcpserver 1.0) accepts $version" probe 1.0
check "find_package(tcpserver 2.0) refuses $version (SameMajorVersion)" refused 2.0
check "find_package(tcpserver 1.99) refuses $version" refused 1.99

pc() { PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config "$@"; }
check "pkg-config knows tcpserver $version" test "$(pc --modversion tcpserver)" = "$version"
pc_build() {
  # shellcheck disable=SC2046 # the flags are words
  cc -o "$work/pc_echo_check" "$here/consumer/echo_check.c" $(pc --cflags --libs tcpserver) \
     -Wl,-rpath,"$(pc --variable=libdir tcpserver)"
}
check "cc \$(pkg-config --cflags --libs tcpserver) builds the C program" pc_build
check "pkg-config-built program serves an echo" expect_output "^echo ok tcpserver $version\$" "$work/pc_echo_check"
check "pkg-config-built program loads the installed library" loads_from "$libdir" "$work/pc_echo_check"

build_tree_consumer() {
  configure_consumer "$work/from_build_tree" -Dtcpserver_DIR="$build/packaging" &&
    cmake --build "$work/from_build_tree"
}
check "consumer builds against the build tree (tcpserver_DIR=<build>/packaging)" build_tree_consumer
check "build-tree consumer serves an echo" expect_output "^echo ok" "$work/from_build_tree/echo_check"

# A parent project that adds the source tree: the library only.
mkdir -p "$work/parent"
cat >"$work/parent/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.20)
project(parent LANGUAGES C CXX)
add_subdirectory("$src" tcpserver)
add_executable(app "$here/consumer/echo_check.c")
target_link_libraries(app PRIVATE tcpserver::tcpserver)
EOF
check "add_subdirectory(): parent project configures" \
  cmake -S "$work/parent" -B "$work/parent/build" "${generator[@]}"
subproject_targets() {
  local targets
  targets=$(cmake --build "$work/parent/build" --target help) || return 1
  grep -q '\btcpserver\b' <<<"$targets" || { echo "no tcpserver target"; return 1; }
  if grep -E '\b(tcpserver_tests|tcpserver_cpp17_tests|echo_server|bench_load|csharp_binding|conformance_servers)\b' <<<"$targets"; then
    echo "a subproject build has the targets above: tests, samples, bindings or benchmarks"
    return 1
  fi
}
check "add_subdirectory(): the library only (no tests, samples, bindings, benchmarks)" subproject_targets

summary
