#!/usr/bin/env bash
# User-space instructions per echoed message of each server, counted by valgrind's callgrind:
# stable on a busy machine, where throughput is not. Each server runs twice under callgrind
# (1 s and 3 s of load); the difference of the instruction totals over the difference of the
# message counts removes start-up and shutdown. Kernel work (the syscalls) is not counted.
#   bash bench/callgrind.sh [build-dir] [conns] [size] [inflight]    (default build/bench 10 64 1)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/bench}
conns=${2:-10} size=${3:-64} inflight=${4:-1}
bin=$build/bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run <server> <seconds>: prints "<instructions> <messages>"
run() {
  local out=$tmp/cg.$2 log=$tmp/log port=
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin/$1" >"$tmp/port" 2>"$log" < <(sleep 600) &
  local vg=$!
  for _ in $(seq 300); do port=$(awk '/^PORT/{print $2}' "$tmp/port"); [ -n "$port" ] && break; sleep 0.1; done
  [ -n "$port" ] || { echo "callgrind.sh: $1 did not start" >&2; cat "$log" >&2; kill $vg; exit 1; }
  local msgs
  msgs=$("$bin/bench_load" echo --port "$port" --conns "$conns" --size "$size" --inflight "$inflight" \
         --seconds "$2" --warmup 0 | sed -n 's/.* msgs=\([0-9]*\).*/\1/p')
  kill -TERM $vg; wait $vg || true
  echo "$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$log") $msgs"
}

echo "user-space instructions per echoed message ($conns connections, $size bytes, $inflight in flight)"
for server in bench_ts_server bench_epoll_server bench_uv_server bench_asio_server; do
  read -r i1 m1 < <(run $server 1)
  read -r i3 m3 < <(run $server 3)
  printf '%-20s %6d\n' "$server" $(( (i3 - i1) / (m3 - m1) ))
done
