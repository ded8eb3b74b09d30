#!/usr/bin/env bash
# User-space instructions weir executes per request, under callgrind: a
# deterministic measure of weir's own work, where wall-clock A/B runs on a
# shared machine vary by ±20%. Counts every thread (runtime, log writer)
# from the start of the measured run to its end, after a warm-up; kernel
# work (syscalls, TCP) is not counted. Prints the total per request and
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
valgrind --tool=callgrind --compress-strings=no --compress-pos=no --callgrind-out-file="$out" \
  "$WEIR" serve --dir "$WORK/weir" --port "$port" --http 127.0.0.1:0 >"$WORK/weir.log" 2>&1 &
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
total=$(grep '^summary:' "$dump" | awk '{print $2}')
# KEEP=path keeps the profile, for callgrind_annotate --inclusive=yes.
if [ -n "${KEEP:-}" ]; then cp "$dump" "$KEEP"; fi
echo "load: ${LOAD}, pipeline ${PIPELINE}, ${REQUESTS} requests"
echo "instructions per request: $((total / REQUESTS))"
echo "most costly functions (self, per request):"
# callgrind_annotate's exclusive view mislabels these files; read them here.
python3 - "$dump" "$REQUESTS" "$TOP" <<'PY'
import collections, sys
path, requests, top = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cost, fn, after_call = collections.Counter(), None, False
for line in open(path):
    if line.startswith("fn="):
        fn = line[3:].strip()
    elif line.startswith("calls="):
        after_call = True  # the next cost line is the callee's, inclusive
    elif line[:1].isdigit() or line[:1] in "+-*":
        parts = line.split()
        if len(parts) >= 2 and not after_call:
            cost[fn] += int(parts[1])
        after_call = False
for name, ir in cost.most_common(top):
    print(f"{ir / requests:8.0f}  {name[:150]}")
PY
