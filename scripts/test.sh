#!/usr/bin/env bash
# Every test: installs what it needs from Debian's packages, cross-builds the static OpenSSL of
# the Windows DLLs unless it is cached (a step of its own, so a cold build never eats a test's
# time limit), builds everything, runs the whole CTest suite (engine unit tests, the C++ wrapper,
# samples, bindings, conformance, the Windows build and the win64 Pascal binding under Wine, the
# packages, the README quick starts) on the default backend (io_uring where the kernel allows
# it, else epoll), runs the unit, fault and C conformance suites again on epoll, then soaks the
# release build for 2 minutes
# (tests/reliability), rebuilds the engine, its unit and fault tests and the cluster library
# with its tests (the C samples are its node processes) under AddressSanitizer +
# UndefinedBehaviorSanitizer (gcc) and under ThreadSanitizer (clang) and runs them again, then
# fuzzes the API, the frame decoder, the TLS session and a TLS link of the engine for a minute
# each.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
ensure_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
jobs=$(nproc)
status=0

echo "== Windows: the static OpenSSL inside tcpserver.dll, built once (cached outside the clone)"
# Both architectures: the Windows SDK zip the packaging tests make carries the x64 and the x86
# DLL, each with TLS inside. A cold machine spends 5-10 minutes of CPU per architecture here,
# once; the tests then find the cache (scripts/windows/test.sh refuses to build it inside one).
if command -v x86_64-w64-mingw32-g++-posix >/dev/null; then
  bash scripts/windows/openssl.sh x86_64 i686 || status=1
fi

echo "== release build: all tests (bench_smoke checks that the benchmark suite works, not its speed)"
# Every part switched on explicitly: a cached OFF from an earlier configure must not drop tests.
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTCPSERVER_SANITIZE= \
      -DTCPSERVER_BUILD_TESTS=ON -DTCPSERVER_BUILD_SAMPLES=ON -DTCPSERVER_BUILD_BINDINGS=ON \
      -DTCPSERVER_BUILD_BENCH=ON >/dev/null
cmake --build build/release
ctest --test-dir build/release --output-on-failure -j "$jobs" --timeout 600 --no-tests=error -LE soak || status=1
# TS_BACKEND_AUTO serves with io_uring where the kernel allows it (the run above; BackendTest
# prints which one); the other Linux backend gets the same suites (each test asserts which
# backend served it).
echo "== release build: the unit, fault and C conformance suites again on epoll"
TCPSERVER_TEST_BACKEND=epoll ctest --test-dir build/release --output-on-failure -j "$jobs" \
  --timeout 600 --no-tests=error -L 'unit|reliability|conformance' -LE 'soak|uring|valgrind' \
  -E 'conformance_(pascal|csharp|python)' || status=1
echo "== release build: soak, 1 000 churning links for 2 minutes (alone: it loads every core)"
TCPSERVER_SOAK_SECONDS=120 ctest --test-dir build/release --verbose --timeout 600 \
  --no-tests=error -L soak || status=1

echo "== AddressSanitizer + UBSan build: engine unit and fault tests (default backend), the io_uring tests, cluster tests"
# Samples on: the cluster tests' node processes are the C conformance server and the chat sample.
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTCPSERVER_SANITIZE=address,undefined \
      -DTCPSERVER_BUILD_BINDINGS=OFF -DTCPSERVER_BUILD_SAMPLES=ON -DTCPSERVER_BUILD_BENCH=OFF >/dev/null
cmake --build build/asan
# The framing acceptance test sends 1 000 of its 10 000 messages under the sanitizers (slow there).
TS_FRAMING_MESSAGES=1000 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan --output-on-failure -j "$jobs" --timeout 900 -L 'unit|reliability|cluster|uring' || status=1

echo "== ThreadSanitizer build (clang): engine unit and fault tests (default backend), the io_uring tests, cluster tests"
CC=clang CXX=clang++ cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DTCPSERVER_SANITIZE=thread -DTCPSERVER_BUILD_BINDINGS=OFF -DTCPSERVER_BUILD_SAMPLES=ON -DTCPSERVER_BUILD_BENCH=OFF >/dev/null
cmake --build build/tsan
TS_FRAMING_MESSAGES=1000 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build/tsan --output-on-failure -j "$jobs" --timeout 900 -L 'unit|reliability|cluster|uring' --no-tests=error || status=1

echo "== libFuzzer (clang, ASan + UBSan): random API call sequences, the frame decoder, the TLS"
echo "   session and a TLS link of a started server, 60 s each"
CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DTCPSERVER_SANITIZE=address,undefined -DTCPSERVER_FUZZ=ON -DTCPSERVER_FUZZ_SECONDS=60 \
      -DTCPSERVER_BUILD_BINDINGS=OFF -DTCPSERVER_BUILD_SAMPLES=OFF -DTCPSERVER_BUILD_BENCH=OFF >/dev/null
cmake --build build/fuzz --target api_sequence_fuzz framing_fuzz tls_session_fuzz tls_link_fuzz
ctest --test-dir build/fuzz --output-on-failure -L fuzz --no-tests=error || status=1

exit $status
