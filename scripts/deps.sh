# Installs Debian packages that are missing (sourced by demo.sh and test.sh).
# Usage: ensure_packages pkg...   — runs apt-get only when something is missing.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing from Debian's packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# What building the library and its C samples needs; liburing (found with pkg-config) brings
# the io_uring backend, which the library is built without when it is missing.
BUILD_PACKAGES=(cmake ninja-build g++ make pkg-config liburing-dev)
# The benchmark suite (bench/): its peers Boost.Asio (header-only) and libuv; Python runs it;
# the binding samples it compares need Free Pascal and Mono (pytest: the bindings' configure).
BENCH_PACKAGES=(libboost-dev libuv1-dev python3 python3-pytest fp-compiler fp-units-rtl mono-mcs mono-runtime)
# What the whole test suite needs on top: GoogleTest; pytest and pybind11 (the Python binding,
# the conformance suite and its native harness); Free Pascal; Mono (C#); clang's sanitizers and
# libFuzzer; valgrind; mingw-w64 + Wine for the Windows (IOCP) build.
TEST_PACKAGES=(libgtest-dev python3 python3-pytest python3-dev pybind11-dev python3-pybind11
               fp-compiler fp-units-rtl mono-mcs mono-runtime clang libclang-rt-14-dev valgrind
               g++-mingw-w64-x86-64-posix g++-mingw-w64-i686-posix wine64 "${BENCH_PACKAGES[@]}")
