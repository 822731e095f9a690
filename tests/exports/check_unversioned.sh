#!/usr/bin/env bash
# Programs built before libtcpserver.so.1 had its TCPSERVER_1 symbol version node keep working:
#   1. the library defines its names in the node (PostSend@@TCPSERVER_1);
#   2. unversioned_program, linked against an unversioned stand-in, refers to them without a
#      version, as such programs do;
#   3. run with the real library first on the search path, it starts a server on 127.0.0.1.
#   check_unversioned.sh <unversioned_program> <folder of the real libtcpserver.so.1>
set -uo pipefail
program=$1 libdir=$2
status=0
symbols=$(nm -D --defined-only "$libdir/libtcpserver.so.1")
references=$(objdump -T "$program")
if grep -q ' StartTcpServer@@TCPSERVER_1$' <<<"$symbols"; then
  echo "ok: the library defines StartTcpServer@@TCPSERVER_1"
else
  echo "FAIL: no StartTcpServer@@TCPSERVER_1 in $libdir/libtcpserver.so.1"; status=1
fi
if grep -w StartTcpServer <<<"$references" | grep -q TCPSERVER_; then
  echo "FAIL: $program refers to a versioned StartTcpServer: it is not an old program"; status=1
else
  echo "ok: the program refers to StartTcpServer without a version"
fi
out=$(LD_LIBRARY_PATH=$libdir timeout 60 "$program" 2>&1)
if [[ $out =~ ^ok\ tcpserver\ [0-9.]+\ [0-9]+$ ]]; then
  echo "ok: with the versioned library it ran: $out"
else
  echo "FAIL: with the versioned library: $out"; status=1
fi
exit $status
