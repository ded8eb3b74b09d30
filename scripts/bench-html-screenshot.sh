#!/usr/bin/env bash
# Renders a `weir bench --html` report in headless Chromium and takes a
# screenshot, to check that the self-contained report opens without errors.
#   scripts/bench-html-screenshot.sh [report.html] [out.png]
# Without a report it runs a short likes benchmark against a fresh weir node.
# Needs Debian's chromium (apt-get install chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib-servers.sh
command -v chromium >/dev/null || { echo "error: chromium is required (apt-get install chromium)" >&2; exit 1; }
WEIR=$(weir_bin)
report=${1:-}
out=${2:-$PWD/bench-report.png}
if [ -z "$report" ]; then
  port=$(start_weir weir)
  report="$WORK/report.html"
  "$WEIR" bench --url "redis://127.0.0.1:$port" --scenario likes --duration 3s --warmup 0s --html "$report" >/dev/null
fi
profile=$(mktemp -d)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --window-size=1280,1600 --screenshot="$out" "file://$(realpath "$report")" 2>"$WORK/chromium.log" || {
  cat "$WORK/chromium.log" >&2; exit 1; }
rm -rf "$profile"
[ -s "$out" ] || { echo "error: no screenshot written" >&2; exit 1; }
echo "screenshot: $out"
