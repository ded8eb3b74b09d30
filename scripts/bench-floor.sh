#!/usr/bin/env bash
# The floor of a no-pipeline write on this machine: weir as it is, weir
# whose plain writes are answered at once (scripts/floor/
# answer-writes-at-once.patch: parsed, routed and answered by the real
# connection layer, but neither logged, replicated nor applied), and
# redis-server with `appendfsync everysec`, under the same redis-benchmark
# loads (50 clients, no pipeline), rounds interleaved. Prints requests per
# second and each server's CPU per request (user + system, from
# /proc/PID/stat), medians of ROUNDS, and the ratios to redis-server.
#
# What it tells: whatever weir does to make a write durable comes on top of
# the floor, so weir's ratio to redis-server can only reach 1.0x where the
# floor's ratio is well above it.
#
#   scripts/bench-floor.sh                       # ROUNDS=5 REQUESTS=100000
#   LOADS="lpush xadd" ROUNDS=7 scripts/bench-floor.sh
#   WEIR_BIN=... FLOOR_BIN=... scripts/bench-floor.sh   # reuse builds
#
# The floor is built from HEAD in a temporary worktree (a release build;
# FLOOR_TARGET keeps its target folder between runs).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib-servers.sh

ROUNDS=${ROUNDS:-5}
REQUESTS=${REQUESTS:-100000}
KEYS=${KEYS:-100000}
CLIENTS=${CLIENTS:-50}
LOADS=${LOADS:-lpush rpop zincrby xadd}
WEIR=$(weir_bin)

floor_bin() {
  if [ -n "${FLOOR_BIN:-}" ]; then echo "$FLOOR_BIN"; return; fi
  local tree="$WORK/floor-tree" target=${FLOOR_TARGET:-$PWD/target/floor}
  git worktree add --detach -q "$tree" HEAD >&2
  git -C "$tree" apply "$PWD/scripts/floor/answer-writes-at-once.patch" >&2
  (cd "$tree" && cargo build --release --locked -q -p weir --target-dir "$target" >&2)
  git worktree remove --force "$tree" >&2
  echo "$target/release/weir"
}
FLOOR=$(floor_bin)

# Each server's pid, by port (start_* record pids in $PIDFILE).
declare -A pid_of
weir_port=$(start_weir weir --fsync always)
pid_of[$weir_port]=$(tail -1 "$PIDFILE")
floor_port=$(WEIR=$FLOOR start_weir floor)
pid_of[$floor_port]=$(tail -1 "$PIDFILE")
redis_port=$(start_redis redis-everysec --appendonly yes --appendfsync everysec)
pid_of[$redis_port]=$(tail -1 "$PIDFILE")

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run PORT LOAD: "requests-per-second cpu-us-per-request" of one run.
run() {
  local load pid before after rps
  mapfile -t load < <(write_load "$2")
  pid=${pid_of[$1]}
  before=$(ticks "$pid")
  rps=$(redis-benchmark -p "$1" -n "$REQUESTS" -r "$KEYS" -c "$CLIENTS" -q "${load[@]}" 2>/dev/null | per_second)
  after=$(ticks "$pid")
  echo "$rps $(echo "($after - $before) * 1000000 / $(getconf CLK_TCK) / $REQUESTS" | bc -l)"
}

# fill_list PORT: enough elements in "mylist" for every rpop run to pop.
fill_list() { redis-benchmark -p "$1" -t lpush -n $((ROUNDS * REQUESTS)) -c "$CLIENTS" -P 64 -q >/dev/null 2>&1; }

printf '%-8s %9s %9s %9s | %11s %11s | %8s %8s %8s\n' load weir floor redis "weir/redis" "floor/redis" \
  "weir us" "floor us" "redis us"
for test in $LOADS; do
  [ "$test" = rpop ] && for port in "$weir_port" "$redis_port"; do fill_list "$port"; done
  declare -a wr=() wc=() fr=() fc=() rr=() rc=()
  for _ in $(seq 1 "$ROUNDS"); do
    read -r r c < <(run "$weir_port" "$test"); wr+=("$r"); wc+=("$c")
    read -r r c < <(run "$floor_port" "$test"); fr+=("$r"); fc+=("$c")
    read -r r c < <(run "$redis_port" "$test"); rr+=("$r"); rc+=("$c")
  done
  m() { printf '%s\n' "$@" | median; }
  w=$(m "${wr[@]}"); f=$(m "${fr[@]}"); r=$(m "${rr[@]}")
  printf '%-8s %9.0f %9.0f %9.0f | %10.2fx %10.2fx | %8.1f %8.1f %8.1f\n' "$test" "$w" "$f" "$r" \
    "$(echo "$w / $r" | bc -l)" "$(echo "$f / $r" | bc -l)" "$(m "${wc[@]}")" "$(m "${fc[@]}")" "$(m "${rc[@]}")"
done
echo "(medians of $ROUNDS interleaved rounds, $REQUESTS requests each, $CLIENTS clients, no pipeline;"
echo " CPU: the server process's user + system time per request)"
