#!/usr/bin/env bash
# weir (--fsync always) against redis-server with the AOF on (appendfsync
# always, and everysec), same machine, same moment, same redis-benchmark
# loads, 50 clients, no pipeline and -P 16. Prints requests per second, the
# ratios, and weir's average batch size.
#
# Loads: incr, set, lpush and rpop (redis-benchmark's own tests, one hot list
# "mylist"), and zincrby (a leaderboard: ZINCRBY on one hot key, members
# spread over KEYS), and xadd (orders appended to one stream with
# auto IDs). rpop runs on a list filled beforehand, so every RPOP
# pops (a write), never an empty-list no-op.
#
#   scripts/bench-vs-redis.sh            # ROUNDS=3 REQUESTS=200000 KEYS=100000
#   LOADS="lpush rpop zincrby" scripts/bench-vs-redis.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib-servers.sh

ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-200000}
KEYS=${KEYS:-100000}
CLIENTS=${CLIENTS:-50}
LOADS=${LOADS:-incr set lpush rpop zincrby xadd}
WEIR=$(weir_bin)

weir_port=$(start_weir weir --fsync always)
# The opt-in relaxed mode: acknowledged after write(2), fsynced every
# interval. Same risk as appendfsync everysec, so that is its peer.
relaxed_port=$(start_weir weir-relaxed --fsync interval)
always_port=$(start_redis redis-always --appendonly yes --appendfsync always)
everysec_port=$(start_redis redis-everysec --appendonly yes --appendfsync everysec)

requests() { if [ "$1" -gt 1 ]; then echo $((REQUESTS * 4)); else echo "$REQUESTS"; fi; }

# rps PORT LOAD PIPELINE: one redis-benchmark run, requests per second.
rps() {
  local n; n=$(requests "$3")
  local load; mapfile -t load < <(write_load "$2")
  redis-benchmark -p "$1" -n "$n" -r "$KEYS" -c "$CLIENTS" -P "$3" -q "${load[@]}" 2>/dev/null | per_second
}

# fill_list PORT: enough elements in "mylist" for every rpop run to pop.
fill_list() {
  local need=$((ROUNDS * (REQUESTS + REQUESTS * 4)))
  redis-benchmark -p "$1" -t lpush -n "$need" -c "$CLIENTS" -P 64 -q >/dev/null 2>&1
}

printf '%-12s %10s %13s %15s %10s %12s | %13s %12s\n' load weir redis-always redis-everysec "vs always" "vs everysec" \
  weir-relaxed "vs everysec"
for test in $LOADS; do
  if [ "$test" = rpop ]; then
    for port in "$weir_port" "$always_port" "$everysec_port" "$relaxed_port"; do fill_list "$port"; done
  fi
  for pipeline in 1 16; do
    w=(); a=(); e=(); r=()
    # Alternate the servers round by round so none gets a quieter moment.
    for _ in $(seq 1 "$ROUNDS"); do
      w+=("$(rps "$weir_port" "$test" "$pipeline")")
      a+=("$(rps "$always_port" "$test" "$pipeline")")
      e+=("$(rps "$everysec_port" "$test" "$pipeline")")
      r+=("$(rps "$relaxed_port" "$test" "$pipeline")")
    done
    wm=$(printf '%s\n' "${w[@]}" | median)
    am=$(printf '%s\n' "${a[@]}" | median)
    em=$(printf '%s\n' "${e[@]}" | median)
    rm=$(printf '%s\n' "${r[@]}" | median)
    printf '%-12s %10.0f %13.0f %15.0f %9.2fx %11.2fx | %13.0f %11.2fx\n' "$test -P $pipeline" "$wm" "$am" "$em" \
      "$(echo "$wm / $am" | bc -l)" "$(echo "$wm / $em" | bc -l)" "$rm" "$(echo "$rm / $em" | bc -l)"
  done
done
echo
echo "weir (every ack fsynced):"
redis-cli -p "$weir_port" info stats | grep -E 'weir_batch' | tr -d '\r'
redis-cli -p "$weir_port" info persistence | grep -E 'weir_log_(fsyncs|records|batches)' | tr -d '\r'
echo "(medians of $ROUNDS rounds; $REQUESTS requests per run without pipeline, 4x that with -P 16; keys spread over $KEYS)"
