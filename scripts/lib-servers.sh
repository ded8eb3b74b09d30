# Shared by the benchmark scripts: start weir and redis-server on free
# loopback ports, in temporary folders, and stop them on exit.
# shellcheck shell=bash

WORK=$(mktemp -d)
# Servers are started inside $(...) subshells, so their pids go to a file.
PIDFILE="$WORK/pids"
cleanup() {
  if [ -f "$PIDFILE" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$PIDFILE"
    while read -r pid; do
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done <"$PIDFILE"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_ping() {
  for _ in $(seq 1 300); do
    if [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ]; then return 0; fi
    sleep 0.1
  done
  echo "server on port $1 did not start" >&2
  exit 1
}

weir_bin() {
  if [ -n "${WEIR_BIN:-}" ]; then echo "$WEIR_BIN"; return; fi
  cargo build --release -q -p weir >&2
  echo "$PWD/target/release/weir"
}

# start_weir NAME EXTRA-FLAGS...: prints the port
start_weir() {
  local name=$1; shift
  local port; port=$(free_port)
  "$WEIR" serve --dir "$WORK/$name" --port "$port" --http 127.0.0.1:0 "$@" >"$WORK/$name.log" 2>&1 &
  echo $! >>"$PIDFILE"
  wait_ping "$port"
  echo "$port"
}

# start_redis NAME EXTRA-ARGS...: prints the port
start_redis() {
  local name=$1; shift
  local port; port=$(free_port)
  mkdir -p "$WORK/$name"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --dir "$WORK/$name" "$@" >"$WORK/$name.log" 2>&1 &
  echo $! >>"$PIDFILE"
  wait_ping "$port"
  echo "$port"
}

# median: the median of the numbers on stdin, one per line.
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# write_load NAME: redis-benchmark's arguments for a write load, one per
# line: its own test (-t lpush, rpop...), ZINCRBY on one leaderboard
# (members spread by -r), or XADD to one stream with auto IDs.
write_load() {
  case $1 in
    zincrby) printf '%s\n' ZINCRBY leaderboard 1 'member:__rand_int__' ;;
    xadd) printf '%s\n' XADD orders '*' order 'o:__rand_int__' ;;
    *) printf '%s\n' -t "$1" ;;
  esac
}

# per_second: the requests per second in redis-benchmark -q output (stdin).
per_second() {
  tr '\r' '\n' | grep 'requests per second' | tail -1 | sed -E 's/.*: ([0-9.]+) requests per second.*/\1/'
}
