#!/usr/bin/env bash
# Isolation: does a script stuck in a loop on one partition slow commands on
# the others? weir (--fsync always) serves INCR on keys of one slot whose
# partition is not the script's, alternately with and without
# `while true do end` running on another partition, closed loop (max
# throughput) and open loop (--rate: latency at a fixed arrival rate).
# Prints medians over the rounds and loaded/idle ratios.
#
#   scripts/bench-script-isolation.sh     # ROUNDS=3 DURATION=5s RATE=10000 CLIENTS=50
#
# On a 2-core machine the loop takes a whole core from the bench client and
# the node's other threads: that CPU share, not a lock, is what the
# closed-loop figure measures.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib-servers.sh

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
RATE=${RATE:-10000}
CLIENTS=${CLIENTS:-50}
WEIR=$(weir_bin)
port=$(start_weir weir --fsync always --busy-script-ms 200)
LOOP_KEY='{busy}k'

start_loop() {
  redis-cli -p "$port" EVAL 'while true do end' 1 "$LOOP_KEY" >"$WORK/loop.out" 2>&1 &
  LOOP_PID=$!
  sleep 0.5
}
stop_loop() {
  local reply; reply=$(redis-cli -p "$port" SCRIPT KILL)
  wait "$LOOP_PID" || true
  if [ "$reply" != OK ]; then echo "the looping script was not running at the end (SCRIPT KILL: $reply)" >&2; exit 1; fi
}

# A hash tag on another partition: while the loop runs, its partition
# answers BUSY, the others answer.
start_loop
TAG=
for i in $(seq 0 99); do
  if ! redis-cli -p "$port" GET "{t$i}:probe" | grep -q BUSY; then TAG="t$i"; break; fi
done
stop_loop
[ -n "$TAG" ] || { echo "no key found off the script's partition" >&2; exit 1; }

# run [RATE]: prints "throughput p50_ms p99_ms errors"
run() {
  local rate=()
  [ -n "${1:-}" ] && rate=(--rate "$1")
  "$WEIR" bench --url "redis://127.0.0.1:$port" --scenario custom --command "INCR {$TAG}:__rand_int__" \
    --keys 100000 --clients "$CLIENTS" --duration "$DURATION" --warmup 1s "${rate[@]}" \
    --json "$WORK/report.json" >/dev/null 2>&1
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))[0]; l=r["latency"]
print(r["throughput"], l["p50_ms"], l["p99_ms"], sum(r["errors"].values()))' "$WORK/report.json"
}

col() { awk -v c="$1" '{print $c}' | median; }

for mode in closed open; do
  idle=(); busy=()
  rate=; [ "$mode" = open ] && rate=$RATE
  for _ in $(seq 1 "$ROUNDS"); do
    idle+=("$(run $rate)")
    start_loop
    busy+=("$(run $rate)")
    stop_loop
  done
  for what in "throughput 1" "p50_ms 2" "p99_ms 3" "errors 4"; do
    set -- $what
    i=$(printf '%s\n' "${idle[@]}" | col "$2"); b=$(printf '%s\n' "${busy[@]}" | col "$2")
    printf '%-6s %-10s idle %10.3f  with loop %10.3f  loop/idle %6.2fx\n' "$mode" "$1" "$i" "$b" \
      "$(echo "if ($i == 0) 1 else $b / $i" | bc -l)"
  done
done
