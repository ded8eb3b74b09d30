#!/usr/bin/env bash
# Resident memory per element: weir beside redis-server, each loaded with the
# same data through redis-cli --pipe, on fresh servers per data set.
#
#   strings: KEYS keys with 16-byte values (SET)
#   list:    one list of ELEMENTS 16-byte elements (RPUSH, 100 per command)
#   zset:    one sorted set of ELEMENTS 16-byte members with distinct scores
#
#   scripts/memory-vs-redis.sh           # KEYS=1000000 ELEMENTS=1000000
#   DATA="list zset" scripts/memory-vs-redis.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib-servers.sh

KEYS=${KEYS:-1000000}
ELEMENTS=${ELEMENTS:-1000000}
DATA=${DATA:-strings list zset}
WEIR=$(weir_bin)

# load DATA COUNT: the RESP commands that build one data set.
load() {
  python3 - "$1" "$2" <<'PY'
import sys
kind, count = sys.argv[1], int(sys.argv[2])
out = sys.stdout.buffer
def command(*args):
    out.write(b"*%d\r\n" % len(args))
    for a in args:
        out.write(b"$%d\r\n%s\r\n" % (len(a), a))
if kind == "strings":
    for i in range(count):
        command(b"SET", b"key:%010d" % i, b"v%015d" % i)
else:
    verb, key = (b"RPUSH", b"biglist") if kind == "list" else (b"ZADD", b"bigzset")
    for start in range(0, count, 100):
        args = [verb, key]
        for i in range(start, min(start + 100, count)):
            if kind == "zset":
                args.append(b"%d" % i)
            args.append(b"m%015d" % i)
        command(*args)
PY
}

rss_kb() { ps -o rss= -p "$1" | tr -d ' '; }
pid_of_port() { ss -ltnp "sport = :$1" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2; }

# size PORT DATA: how many elements the server holds.
size() {
  case $2 in
    strings) redis-cli -p "$1" dbsize ;;
    list) redis-cli -p "$1" llen biglist ;;
    zset) redis-cli -p "$1" zcard bigzset ;;
  esac
}

# measure NAME PORT DATA: loads, prints one line, and returns the RSS in kB
# on the last line.
measure() {
  local name=$1 port=$2 data=$3 pid before after n
  pid=$(pid_of_port "$port")
  before=$(rss_kb "$pid")
  redis-cli -p "$port" --pipe <"$WORK/$data.resp" >/dev/null
  sleep 1
  after=$(rss_kb "$pid")
  n=$(size "$port" "$data")
  printf '%-8s %-8s n=%-8s rss=%6.1f MiB (before load %5.1f MiB)  %5.1f bytes/element\n' "$data" "$name" "$n" \
    "$(echo "$after / 1024" | bc -l)" "$(echo "$before / 1024" | bc -l)" "$(echo "($after - $before) * 1024 / $n" | bc -l)"
  echo "$((after - before))"
}

for data in $DATA; do
  count=$ELEMENTS
  [ "$data" = strings ] && count=$KEYS
  load "$data" "$count" >"$WORK/$data.resp"
  weir_port=$(start_weir "weir-$data")
  redis_port=$(start_redis "redis-$data" --appendonly no)
  w=$(measure weir "$weir_port" "$data" | tee /dev/stderr | tail -1)
  r=$(measure redis "$redis_port" "$data" | tee /dev/stderr | tail -1)
  printf '%-8s weir / redis memory for the data: %.2fx\n\n' "$data" "$(echo "$w / $r" | bc -l)"
done
