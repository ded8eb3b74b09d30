#!/usr/bin/env bash
# Runs the RESP request-decoder fuzz target (libFuzzer via cargo-fuzz).
#   scripts/fuzz.sh [seconds]         # default 60
# cargo-fuzz needs nightly features; on a stable toolchain RUSTC_BOOTSTRAP=1
# enables them.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
RUSTC_BOOTSTRAP=1 cargo fuzz run decode_requests -- -max_total_time="${1:-60}"
