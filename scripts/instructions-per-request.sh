#!/usr/bin/env bash
# User-space instructions weir executes per request, under callgrind: a
# deterministic measure of weir's own work, where wall-clock A/B runs on a
# shared machine vary by ±20%. Counts every thread (runtime, log writer)
# from the start of the measured run to its end, after a warm-up; kernel
# work (syscalls, TCP) is not counted, nor is work that runs by the clock
# (the memory sampler). Prints the total per request and
# the functions that cost the most.
#
#   scripts/instructions-per-request.sh                  # RPOP -P 16, a filled list
#   LOAD=lpush PIPELINE=1 REQUESTS=30000 scripts/instructions-per-request.sh
#   LOAD="ZINCRBY board 1 m:__rand_int__" scripts/instructions-per-request.sh
#   KEEP=/tmp/cg.out scripts/instructions-per-request.sh  # keeps the profile
#
# Needs valgrind (apt-get install -y valgrind) and redis-benchmark. Under
# callgrind weir runs ~50x slower, so batches are larger than at full
# speed: compare builds with each other, not with wall-clock figures.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib-servers.sh

LOAD=${LOAD:-rpop}
PIPELINE=${PIPELINE:-16}
REQUESTS=${REQUESTS:-100000}
TOP=${TOP:-25}
WEIR=$(weir_bin)
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

port=$(free_port)
out="$WORK/callgrind.out"
# Work that runs by the clock rather than per request is left out: at
# callgrind's pace it would be counted ~50 times over. The memory sampler's
# call tree (every 20 ms) is subtracted below, and SLOWLOG is off (every
# request would be "slow" and logged).
valgrind --tool=callgrind --compress-strings=no --compress-pos=no --callgrind-out-file="$out" \
  "$WEIR" serve --dir "$WORK/weir" --port "$port" --http 127.0.0.1:0 --slowlog-log-slower-than=-1 \
  >"$WORK/weir.log" 2>&1 &
pid=$!
echo "$pid" >>"$PIDFILE"
wait_ping "$port"

load=(-t "$LOAD")
if [[ "$LOAD" == *" "* ]]; then read -r -a load <<<"$LOAD"; fi
# Pops pop from a list filled beforehand (every request a write).
if [ "$LOAD" = rpop ] || [ "$LOAD" = lpop ]; then
  redis-benchmark -p "$port" -t lpush -c 50 -n $((REQUESTS * 2)) -P 64 -q >/dev/null
fi
redis-benchmark -p "$port" -c 50 -n 20000 -P "$PIPELINE" -q "${load[@]}" >/dev/null
callgrind_control -z "$pid" >/dev/null 2>&1
redis-benchmark -p "$port" -c 50 -n "$REQUESTS" -P "$PIPELINE" -q "${load[@]}" >/dev/null
callgrind_control -d "$pid" >/dev/null 2>&1
dump=$(ls -t "$out".* | head -1)
# KEEP=path keeps the profile, for callgrind_annotate --inclusive=yes.
if [ -n "${KEEP:-}" ]; then cp "$dump" "$KEEP"; fi
echo "load: ${LOAD}, pipeline ${PIPELINE}, ${REQUESTS} requests"
python3 - "$dump" "$REQUESTS" "$TOP" <<'PY'
import collections, sys
path, requests, top = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
CLOCKED = "Memory::sample_forever"  # runs by the clock, not per request
total = 0
self_cost, calls = collections.Counter(), collections.Counter()  # calls[(caller, callee)]: inclusive
fn, callee = None, None
# callgrind_annotate's exclusive view mislabels these files; read them here.
for line in open(path):
    if line.startswith("summary:"):
        total = int(line.split()[1])
    elif line.startswith("fn="):
        fn = line[3:].strip()
    elif line.startswith("cfn="):
        callee = line[4:].strip()
    elif line.startswith("calls="):
        pass  # the next cost line is the callee's, inclusive
    elif line[:1].isdigit() or line[:1] in "+-*":
        parts = line.split()
        if len(parts) < 2:
            continue
        if callee is None:
            self_cost[fn] += int(parts[1])
        else:
            calls[(fn, callee)] += int(parts[1])
            callee = None
# The clocked call tree: a function whose callers' calls are (almost) all
# from it goes (a one-off call at start-up aside), and a shared leaf
# (memset) loses what the clocked callers' calls cost.
roots = {f for f in self_cost if CLOCKED in f} | {c for _, c in calls if CLOCKED in c}
incoming = collections.Counter()
for (caller, c), ir in calls.items():
    incoming[c] += ir
clocked, grew = set(roots), True
while grew:
    grew = False
    from_clocked = collections.Counter()
    for (caller, c), ir in calls.items():
        if caller in clocked:
            from_clocked[c] += ir
    for c, ir in from_clocked.items():
        if c not in clocked and ir >= 0.99 * incoming[c]:
            clocked.add(c)
            grew = True
excluded = sum(self_cost[f] for f in clocked)
for (caller, c), ir in calls.items():
    if caller in clocked and c not in clocked:
        self_cost[c] -= min(ir, self_cost[c])
        excluded += ir
for f in clocked:
    del self_cost[f]
print(f"instructions per request: {(total - excluded) // requests}")
print(f"(left out, run by the clock: the memory sampler, {excluded // requests} per request at callgrind's pace)")
print("most costly functions (self, per request):")
for name, ir in self_cost.most_common(top):
    print(f"{ir / requests:8.0f}  {name[:150]}")
PY
