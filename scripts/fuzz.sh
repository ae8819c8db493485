#!/usr/bin/env bash
# Fuzz the notification parser and the ip-ranges parser/selector/planner, FUZZ_SECONDS each (default 60).
# cargo fuzz needs nightly-only flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
# A crash leaves its input in fuzz/artifacts/<target>/: copy it to fuzz/regressions/<target>/ and
# `cargo test --test fuzz_regressions` replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_EACH=${FUZZ_SECONDS:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for target in notification ip_ranges; do
  mkdir -p "corpus/$target"
  echo "== fuzzing $target for ${SECONDS_EACH}s"
  cargo fuzz run "$target" -O "corpus/$target" "seeds/$target" -- \
    -max_total_time="$SECONDS_EACH" -dict=json.dict -print_final_stats=1 2>&1 | grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb|==|INFO: seed corpus)" || true
  if ls "artifacts/$target"/crash-* >/dev/null 2>&1; then
    echo "fuzz: $target crashed; inputs in fuzz/artifacts/$target" >&2
    exit 1
  fi
done
echo "== no crash"
