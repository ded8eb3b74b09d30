#!/usr/bin/env bash
# weir (--fsync always) against redis-server with the AOF on (appendfsync
# always, and everysec), same machine, same moment, same redis-benchmark
# loads: INCR and SET, 50 clients, no pipeline and -P 16. Prints requests per
# second, the ratios, and weir's average batch size.
#
#   scripts/bench-vs-redis.sh            # ROUNDS=3 REQUESTS=200000 KEYS=100000
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib-servers.sh

ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-200000}
KEYS=${KEYS:-100000}
CLIENTS=${CLIENTS:-50}
WEIR=$(weir_bin)

weir_port=$(start_weir weir --fsync always)
always_port=$(start_redis redis-always --appendonly yes --appendfsync always)
everysec_port=$(start_redis redis-everysec --appendonly yes --appendfsync everysec)

# rps PORT TEST PIPELINE: one redis-benchmark run, requests per second.
rps() {
  local n=$REQUESTS
  [ "$3" -gt 1 ] && n=$((REQUESTS * 4))
  redis-benchmark -p "$1" -t "$2" -n "$n" -r "$KEYS" -c "$CLIENTS" -P "$3" -q 2>/dev/null |
    tr '\r' '\n' | grep 'requests per second' | tail -1 | sed -E 's/.*: ([0-9.]+) requests per second.*/\1/'
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-12s %12s %14s %16s %12s %14s\n' load weir redis-always redis-everysec "vs always" "vs everysec"
for test in incr set; do
  for pipeline in 1 16; do
    w=(); a=(); e=()
    # Alternate the servers round by round so none gets a quieter moment.
    for _ in $(seq 1 "$ROUNDS"); do
      w+=("$(rps "$weir_port" "$test" "$pipeline")")
      a+=("$(rps "$always_port" "$test" "$pipeline")")
      e+=("$(rps "$everysec_port" "$test" "$pipeline")")
    done
    wm=$(printf '%s\n' "${w[@]}" | median)
    am=$(printf '%s\n' "${a[@]}" | median)
    em=$(printf '%s\n' "${e[@]}" | median)
    printf '%-12s %12.0f %14.0f %16.0f %11.2fx %13.2fx\n' "$test -P $pipeline" "$wm" "$am" "$em" \
      "$(echo "$wm / $am" | bc -l)" "$(echo "$wm / $em" | bc -l)"
  done
done
echo
echo "weir (every ack fsynced):"
redis-cli -p "$weir_port" info stats | grep -E 'weir_batch' | tr -d '\r'
redis-cli -p "$weir_port" info persistence | grep -E 'weir_log_(fsyncs|records|batches)' | tr -d '\r'
echo "(medians of $ROUNDS rounds; $REQUESTS requests per run without pipeline, 4x that with -P 16; keys spread over $KEYS)"
