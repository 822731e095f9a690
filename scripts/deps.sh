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
  # Several installs may run at once on one machine: wait up to 15 min for the dpkg lock.
  $sudo apt-get -o DPkg::Lock::Timeout=900 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
    --no-install-recommends "${missing[@]}"
}

# What building the library and its C samples needs (libssl-dev: the TLS layer, dll/src/tls;
# liburing, found with pkg-config, brings the io_uring backend, which the library is built
# without when it is missing).
BUILD_PACKAGES=(cmake ninja-build g++ make libssl-dev pkg-config liburing-dev)
# The benchmark suite (bench/): its peers Boost.Asio (header-only) and libuv; Python runs it;
# the binding samples it compares need Free Pascal and Mono (pytest: the bindings' configure).
BENCH_PACKAGES=(libboost-dev libuv1-dev python3 python3-pytest fp-compiler fp-units-rtl mono-mcs mono-runtime)
# Packaging and its tests (tests/packaging, tests/docs, scripts/windows/pascal.sh): CPack's .deb
# (dpkg-shlibdeps from dpkg-dev, file), pkg-config, the Free Pascal sources for the win64 RTL;
# the Python wheel (pip, setuptools, wheel: built offline) and python3-venv for its test in a
# fresh venv; nuget (packs the .nupkg) and xbuild (builds a project against it, running its
# build/TcpServerLib.targets); lazbuild and the Lazarus sources it needs for the .lpk
# (lcl-utils-2.2, 25 MB, and lazarus-src-2.2, 150 MB installed: no LCL, no IDE).
PACKAGING_PACKAGES=(dpkg-dev file pkg-config fpc-source-3.2.2 python3-venv python3-pip
                    python3-setuptools python3-wheel nuget mono-xbuild lcl-utils-2.2
                    lazarus-src-2.2)
# What the whole test suite needs on top: GoogleTest; pytest and pybind11 (the Python binding,
# the conformance suite and its native harness); Free Pascal; Mono (C#); clang's sanitizers and
# libFuzzer; valgrind; mingw-w64 + Wine for the Windows (IOCP) build; dpkg-dev (dpkg-source), patch
# and perl for scripts/build-openssl-mingw.sh, which cross-builds the Windows DLL's static OpenSSL;
# hiredis (the cluster library is built only where pkg-config finds it) and redis-server (its
# tests start their own); the TLS tests outside the engine: the openssl tool (tests/tls_interop/
# certs.py makes their PKI), and the peers of tests/tls_interop (gnutls-cli, testssl.sh).
TEST_PACKAGES=(libgtest-dev python3 python3-pytest python3-dev pybind11-dev python3-pybind11
               fp-compiler fp-units-rtl mono-mcs mono-runtime clang libclang-rt-14-dev valgrind
               g++-mingw-w64-x86-64-posix g++-mingw-w64-i686-posix wine64 dpkg-dev patch perl
               libhiredis-dev redis-server haproxy openssl gnutls-bin testssl.sh
               "${BENCH_PACKAGES[@]}" "${PACKAGING_PACKAGES[@]}")
