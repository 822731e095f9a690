#!/usr/bin/env bash
# Cross-builds OpenSSL 3.0 for Windows as static libraries (libssl.a, libcrypto.a + headers)
# with mingw-w64, from Debian's own `openssl` source package, so that tcpserver.dll carries TLS
# inside it and ships no OpenSSL DLL. The result is a cache OUTSIDE the clone, one folder per
# OpenSSL version and target:
#
#   ${TCPSERVER_CACHE:-$HOME/.cache/tcpserver}/openssl-<debian version>-<x86_64|i686>-mingw/
#       include/openssl/*.h   lib/libssl.a   lib/libcrypto.a   LICENSE.txt   BUILD-INFO
#
# A second run finds the folder and costs nothing (no network, no compiler). A build happens in
# a temporary folder beside it and is renamed into place only when complete (BUILD-INFO written
# last), so an interrupted build is never taken for a finished one; a lock makes a concurrent
# run wait for the first instead of building twice. Targets are built one after another.
#
# Usage:
#   bash scripts/build-openssl-mingw.sh [x86_64] [i686]   build the target(s) unless one is
#                                                         cached already (default: x86_64)
#   bash scripts/build-openssl-mingw.sh --refresh x86_64  ask Debian for its newest openssl
#                                                         source and build it unless cached
#                                                         (the way to take a security fix)
#   bash scripts/build-openssl-mingw.sh --print-dir x86_64
#                          print the cached build CMake should use (the newest version cached;
#                          exit 1 and say what to run when there is none). No network.
# Which version: TCPSERVER_OPENSSL_VERSION if set (e.g. 3.0.20-1~deb12u2); otherwise the one the
# Linux build links (the installed libssl-dev) when Debian still serves its source, else the
# newest that Debian serves (bookworm main, updates, security — whichever answers).
# Environment: TCPSERVER_CACHE, TCPSERVER_OPENSSL_VERSION, TCPSERVER_DEBIAN_MIRROR (default
# http://deb.debian.org/debian; security from .../debian-security), JOBS (make -j, default nproc).
#
# What makes this OpenSSL safe inside a DLL that anyone may load:
#   - no-autoload-config, and tcpserver calls OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG): no
#     openssl.cnf is ever read;
#   - prefix and openssldir under C:/Windows/System32 (only administrators can create files
#     there): no folder a normal user could create is baked in (the CVE-2019-1552 class);
#   - no-engine, no-dso: nothing is loaded at run time; no-shared: static libraries only;
#   - no-tests, and only `make build_libs` (no apps, no docs).
# About 10 minutes per target on 2 idle cores. Needs dpkg-dev (dpkg-source, patch), make, perl
# and the mingw-w64 compilers (g++-mingw-w64-x86-64-posix, g++-mingw-w64-i686-posix).
set -euo pipefail

cache_root=${TCPSERVER_CACHE:-$HOME/.cache/tcpserver}
mirror=${TCPSERVER_DEBIAN_MIRROR:-http://deb.debian.org/debian}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

die() { echo "build-openssl-mingw: $*" >&2; exit 1; }
say() { echo "build-openssl-mingw: $*" >&2; }

check_target() {
  case "$1" in x86_64|i686) ;; *) die "unknown target '$1' (x86_64 or i686)";; esac
}

# The newest finished build of a target in the cache (empty when none).
cached_dir() {  # $1 = arch
  local best="" v d
  for d in "$cache_root"/openssl-*-"$1"-mingw; do
    [ -f "$d/BUILD-INFO" ] || continue
    if [ -n "${TCPSERVER_OPENSSL_VERSION:-}" ]; then
      [ "$d" = "$cache_root/openssl-$TCPSERVER_OPENSSL_VERSION-$1-mingw" ] || continue
    fi
    v=${d#"$cache_root"/openssl-}; v=${v%-"$1"-mingw}
    if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
  done
  [ -n "$best" ] && echo "$cache_root/openssl-$best-$1-mingw"
  return 0
}

# A private apt state (sources, lists, cache) so the machine's own are left alone.
apt_setup() {  # $1 = work dir; sets apt_opts
  local apt="$1/apt"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/sources.list.d"
  cat > "$apt/sources.list" <<EOF
deb-src $mirror bookworm main
deb-src $mirror bookworm-updates main
deb-src ${mirror%/debian}/debian-security bookworm-security main
EOF
  apt_opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/sources.list.d"
            -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
            -o APT::Sandbox::User=root -qq)
  apt-get "${apt_opts[@]}" update >&2 || die "apt-get update (deb-src for bookworm) failed"
}

# Downloads Debian's source package into $1/src (Debian's patches applied) and prints its
# version: the requested one, else the installed libssl-dev's, else the newest that downloads.
fetch_source() {  # $1 = work dir
  local work=$1 v tried=()
  local candidates=()
  if [ -n "${TCPSERVER_OPENSSL_VERSION:-}" ]; then
    candidates=("$TCPSERVER_OPENSSL_VERSION")
  else
    v=$(dpkg-query -W -f='${Status} ${Version}' libssl-dev 2>/dev/null |
        sed -n 's/^install ok installed //p')
    [ -n "$v" ] && candidates+=("$v")
    while read -r v; do candidates+=("$v"); done < <(
      apt-cache "${apt_opts[@]}" showsrc openssl | sed -n 's/^Version: //p' |
      sort -u | sort -r -V)
  fi
  for v in "${candidates[@]}"; do
    case " ${tried[*]-} " in *" $v "*) continue;; esac
    tried+=("$v")
    rm -f "$work"/openssl_*
    if (cd "$work" && apt-get "${apt_opts[@]}" source --download-only "openssl=$v" >&2 2>"$work/fetch.err"); then
      (cd "$work" && dpkg-source --no-check -x openssl_*.dsc src >&2) || die "dpkg-source -x failed"
      echo "$v"
      return 0
    fi
    say "the source of openssl $v cannot be downloaded here ($(grep -m1 -o '[0-9]\{3\} [A-Za-z ]*' "$work/fetch.err" || echo failed)); trying the next"
  done
  die "no openssl source package could be downloaded (tried: ${tried[*]-none}); set TCPSERVER_OPENSSL_VERSION to a version Debian serves"
}

build_target() {  # $1 = arch, $2 = 1 to look for a newer source first
  local arch=$1 refresh=$2 dest
  local prefix=$arch-w64-mingw32- config=mingw64
  [ "$arch" = i686 ] && config=mingw
  mkdir -p "$cache_root"
  # One build per target at a time; whoever waited finds it built.
  exec 9>"$cache_root/.openssl-$arch-mingw.lock"
  flock 9
  # Holding the lock, any temporary folder left is from a build that was killed: remove it.
  rm -rf "$cache_root"/.openssl-"$arch"-mingw.tmp.*
  dest=$(cached_dir "$arch")
  if [ -n "$dest" ] && [ "$refresh" = 0 ]; then
    say "cached: $dest"
    flock -u 9
    return 0
  fi
  command -v "${prefix}gcc-posix" >/dev/null ||
    die "${prefix}gcc-posix not found: apt-get install g++-mingw-w64-${arch/_/-}-posix"
  command -v dpkg-source >/dev/null || die "dpkg-source not found: apt-get install dpkg-dev"

  local work start=$SECONDS version
  work=$(mktemp -d "$cache_root/.openssl-$arch-mingw.tmp.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  apt_setup "$work"
  version=$(fetch_source "$work")
  dest="$cache_root/openssl-$version-$arch-mingw"
  if [ -f "$dest/BUILD-INFO" ]; then
    say "cached: $dest (the newest source Debian serves)"
    rm -rf "$work"; trap - EXIT; flock -u 9
    return 0
  fi

  # Debian's pic.patch rewrites the 32-bit x86 assembly for ELF position-independent code
  # (GOT/PLT relocations, for Debian's i386 shared libraries); COFF cannot represent those
  # ("cannot represent relocation type BFD_RELOC_386_GOTPC"), so the Windows builds go without
  # it. It touches only 32-bit x86 perlasm; Debian's security fixes all stay applied.
  if [ -f "$work/src/debian/patches/pic.patch" ]; then
    (cd "$work/src" && patch -R -p1 --quiet < debian/patches/pic.patch) ||
      die "could not take Debian's pic.patch out of the source"
  fi

  local sys=C:/Windows/System32/tcpserver-openssl
  local configure=(./Configure "$config" no-shared no-tests no-engine no-dso no-autoload-config
                   "--cross-compile-prefix=$prefix" "--prefix=$sys" "--openssldir=$sys/ssl"
                   "--libdir=lib" CC=gcc-posix)
  say "openssl $version for $arch: ${configure[*]}; make -j$jobs build_libs"
  (cd "$work/src" && nice -n 10 "${configure[@]}" >"$work/configure.log" 2>&1 &&
     nice -n 10 make -j"$jobs" build_libs >"$work/make.log" 2>&1) || {
    tail -n 40 "$work/configure.log" "$work/make.log" >&2 2>/dev/null || true
    die "building OpenSSL $version for $arch failed (log above)"
  }

  local stage="$work/stage"
  mkdir -p "$stage/include" "$stage/lib"
  cp -r "$work/src/include/openssl" "$stage/include/"
  cp "$work/src/libssl.a" "$work/src/libcrypto.a" "$stage/lib/"
  cp "$work/src/LICENSE.txt" "$stage/"
  local secs=$((SECONDS - start))
  {
    echo "openssl_debian_version=$version"
    echo "target=$arch-w64-mingw32"
    echo "configure=${configure[*]}"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ) with make -j$jobs in ${secs} s"
    echo "libssl.a=$(stat -c %s "$stage/lib/libssl.a") bytes"
    echo "libcrypto.a=$(stat -c %s "$stage/lib/libcrypto.a") bytes"
  } > "$stage/BUILD-INFO"
  # The rename is the commit point: before it, nothing is at $dest.
  rm -rf "$dest"
  mv -T "$stage" "$dest"
  rm -rf "$work"
  trap - EXIT
  flock -u 9
  say "built $dest in $((secs / 60)) min $((secs % 60)) s"
  cat "$dest/BUILD-INFO" >&2
}

case "${1:-}" in
  --print-dir)
    [ $# -eq 2 ] || die "usage: $0 --print-dir x86_64|i686"
    check_target "$2"
    d=$(cached_dir "$2")
    [ -n "$d" ] || die "no OpenSSL for $2-w64-mingw32 in $cache_root: run bash scripts/build-openssl-mingw.sh $2 (about 10 minutes)"
    echo "$d"
    exit 0;;
  --refresh) refresh=1; shift;;
  *) refresh=0;;
esac
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(x86_64)
for t in "${targets[@]}"; do check_target "$t"; done
for t in "${targets[@]}"; do build_target "$t" "$refresh"; done
