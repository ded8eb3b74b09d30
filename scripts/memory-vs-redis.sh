#!/usr/bin/env bash
# Resident memory with 1M keys of 16-byte values: weir beside redis-server,
# loaded with the same keys through redis-cli --pipe.
#
#   scripts/memory-vs-redis.sh           # KEYS=1000000
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib-servers.sh

KEYS=${KEYS:-1000000}
WEIR=$(weir_bin)
weir_port=$(start_weir weir)
redis_port=$(start_redis redis --appendonly no)

python3 - "$KEYS" >"$WORK/load.resp" <<'PY'
import sys
out = sys.stdout.buffer
for i in range(int(sys.argv[1])):
    key = b"key:%010d" % i
    value = b"v%015d" % i  # 16 bytes
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$16\r\n%s\r\n" % (len(key), key, value))
PY

rss_kb() { ps -o rss= -p "$1" | tr -d ' '; }
pid_of_port() { ss -ltnp "sport = :$1" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2; }

report() {
  local name=$1 port=$2 pid before after keys
  pid=$(pid_of_port "$port")
  before=$(rss_kb "$pid")
  redis-cli -p "$port" --pipe <"$WORK/load.resp" >/dev/null
  sleep 1
  after=$(rss_kb "$pid")
  keys=$(redis-cli -p "$port" dbsize)
  printf '%-8s keys=%-8s rss=%6.1f MiB (before load %5.1f MiB)  %5.1f bytes/key\n' "$name" "$keys" \
    "$(echo "$after / 1024" | bc -l)" "$(echo "$before / 1024" | bc -l)" "$(echo "($after - $before) * 1024 / $keys" | bc -l)"
  echo "$after"
}

w=$(report weir "$weir_port" | tee /dev/stderr | tail -1)
r=$(report redis "$redis_port" | tee /dev/stderr | tail -1)
printf 'weir / redis resident memory: %.2fx\n' "$(echo "$w / $r" | bc -l)"
