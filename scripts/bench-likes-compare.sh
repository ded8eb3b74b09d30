#!/usr/bin/env bash
# weir bench compare mode on the likes scenario: A = redis-server (AOF on,
# appendfsync $APPENDFSYNC, default everysec), B = weir (--fsync always),
# started here on free loopback ports. Prints each figure's median over the
# rounds and the ratio B/A. Extra arguments go to `weir bench`.
#   scripts/bench-likes-compare.sh [--pipeline 16] [--duration 10s] ...
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib-servers.sh
WEIR=$(weir_bin)
redis_port=$(start_redis redis --appendonly yes --appendfsync "${APPENDFSYNC:-everysec}")
weir_port=$(start_weir weir --fsync always)
"$WEIR" bench --scenario likes --url "redis://127.0.0.1:$redis_port" --url "redis://127.0.0.1:$weir_port" \
  --duration 5s --warmup 1s "$@"
