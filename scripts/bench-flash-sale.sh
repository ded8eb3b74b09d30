#!/usr/bin/env bash
# weir bench --scenario flash-sale: weir (--fsync always) against
# redis-server with the AOF on (appendfsync always, and everysec), all
# running the same recipe script (examples/flash-sale/flash_sale.lua), same
# machine, same moment, same load. Rounds alternate the servers; prints
# median throughput (req/s) and p99 latency, and the ratios.
#
# Two sales: "buying" (stock never runs out: every request a purchase, i.e.
# a write that must be durable) and "sellout" (1,000 units for
# 1,000,000 buyers: a burst of purchases, then mostly sold_out answers).
#
# MODE=evalsha sends EVALSHA after one SCRIPT LOAD (as client libraries'
# script objects do) instead of EVAL with the script's text.
#
#   scripts/bench-flash-sale.sh      # ROUNDS=3 DURATION=5s CLIENTS=50 PIPELINES="1 16" MODE=script
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib-servers.sh

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CLIENTS=${CLIENTS:-50}
MODE=${MODE:-script}
PIPELINES=${PIPELINES:-1 16}
WEIR=$(weir_bin)

weir_port=$(start_weir weir --fsync always)
always_port=$(start_redis redis-always --appendonly yes --appendfsync always)
everysec_port=$(start_redis redis-everysec --appendonly yes --appendfsync everysec)

# run PORT PIPELINE SALE: prints "throughput p99_ms" from the JSON report.
run() {
  local stock=1000000000 keys=10000000
  [ "$3" = sellout ] && stock=1000 keys=1000000
  "$WEIR" bench --url "redis://127.0.0.1:$1" --scenario flash-sale --flash-mode "$MODE" \
    --clients "$CLIENTS" --pipeline "$2" --duration "$DURATION" --warmup 1s \
    --keys "$keys" --dist uniform --stock "$stock" --json "$WORK/report.json" >/dev/null 2>&1
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))[0]; assert r["invariant_ok"], r["invariant"]; print(r["throughput"], r["latency"]["p99_ms"])' "$WORK/report.json"
}

printf '%-8s %3s %10s %13s %15s %10s %12s %9s %9s %9s\n' sale P weir redis-always redis-everysec "vs always" "vs everysec" \
  "p99 weir" "always" "everysec"
for sale in buying sellout; do
  for pipeline in $PIPELINES; do
    w=(); a=(); e=(); wl=(); al=(); el=()
    for _ in $(seq 1 "$ROUNDS"); do
      read -r t l < <(run "$weir_port" "$pipeline" "$sale"); w+=("$t"); wl+=("$l")
      read -r t l < <(run "$always_port" "$pipeline" "$sale"); a+=("$t"); al+=("$l")
      read -r t l < <(run "$everysec_port" "$pipeline" "$sale"); e+=("$t"); el+=("$l")
    done
    mw=$(printf '%s\n' "${w[@]}" | median); ma=$(printf '%s\n' "${a[@]}" | median)
    me=$(printf '%s\n' "${e[@]}" | median)
    printf '%-8s %3s %10.0f %13.0f %15.0f %9.2fx %11.2fx %9s %9s %9s\n' "$sale" "$pipeline" "$mw" "$ma" "$me" \
      "$(echo "$mw / $ma" | bc -l)" "$(echo "$mw / $me" | bc -l)" \
      "$(printf '%s\n' "${wl[@]}" | median)" "$(printf '%s\n' "${al[@]}" | median)" "$(printf '%s\n' "${el[@]}" | median)"
  done
done
echo "weir average batch size: $(curl -s "http://$(grep -o 'http_addr=[0-9.:]*' "$WORK/weir.log" | head -1 | cut -d= -f2)/metrics" |
  awk '/^weir_batch_items_sum/ {s=$2} /^weir_batch_items_count/ {c=$2} END {if (c) printf "%.1f", s/c}') items"
