#!/usr/bin/env bash
# Read replies: weir (--fsync always) against redis-server (appendfsync
# everysec; reads never wait for the disk on either), same machine, same
# moment, same data, 50 clients, no pipeline. Prints requests per second
# and the ratio.
#
# Data: a 1000-member leaderboard (non-integral scores), a 1000-entry
# stream of orders, a 100-field hash, a 100-member set and a 600-element
# list. Loads: the top 100 of the leaderboard WITHSCORES, 100 stream
# entries, the whole hash and set, LRANGE of 100 and 600 elements, and one
# score.
#
#   scripts/bench-reads-vs-redis.sh      # ROUNDS=3 REQUESTS=60000
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib-servers.sh

ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-60000}
CLIENTS=${CLIENTS:-50}
WEIR=$(weir_bin)

weir_port=$(start_weir weir --fsync always)
redis_port=$(start_redis redis-everysec --appendonly yes --appendfsync everysec)

# populate PORT: the same data on each server, through redis-cli --pipe.
populate() {
  python3 - <<'PY' | redis-cli -p "$1" --pipe >/dev/null
import sys
out = sys.stdout.buffer
def command(*args):
    out.write(b"*%d\r\n" % len(args))
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.write(b"$%d\r\n%s\r\n" % (len(a), a))
for i in range(1000):
    command("ZADD", "leaderboard", i * 7 % 1000 + 0.5, "player:%d" % i)
    command("XADD", "orders", "*", "order", "o:%d" % i, "qty", i % 5)
for i in range(100):
    command("HSET", "profile", "field:%d" % i, "value:%d" % i)
    command("SADD", "followers", "user:%d" % i)
for i in range(600):
    command("RPUSH", "queue", "item:%d" % i)
PY
}

LOADS=(
  "ZREVRANGE leaderboard 0 99 WITHSCORES"
  "XRANGE orders - + COUNT 100"
  "HGETALL profile"
  "SMEMBERS followers"
  "LRANGE queue 0 99"
  "LRANGE queue 0 599"
  "ZSCORE leaderboard player:5"
)

# rps PORT COMMAND...: one redis-benchmark run, requests per second.
rps() {
  local port=$1; shift
  # shellcheck disable=SC2068
  redis-benchmark -p "$port" -n "$REQUESTS" -c "$CLIENTS" -q $@ 2>/dev/null | per_second
}

populate "$weir_port"
populate "$redis_port"
printf '%-40s %10s %15s %12s\n' load weir redis-everysec "weir/redis"
for load in "${LOADS[@]}"; do
  w=(); r=()
  # Alternate the servers round by round so none gets a quieter moment.
  for _ in $(seq 1 "$ROUNDS"); do
    w+=("$(rps "$weir_port" "$load")")
    r+=("$(rps "$redis_port" "$load")")
  done
  wm=$(printf '%s\n' "${w[@]}" | median)
  rm=$(printf '%s\n' "${r[@]}" | median)
  printf '%-40s %10.0f %15.0f %11.2fx\n' "$load" "$wm" "$rm" "$(echo "$wm / $rm" | bc -l)"
done
echo "(medians of $ROUNDS rounds; $REQUESTS requests per run, $CLIENTS clients, no pipeline)"
