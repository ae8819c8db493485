#!/usr/bin/env bash
# `make release`: dist/ for the version in Cargo.toml. Builds, --locked and in release mode, the two functions and
# the CLI for each of RELEASE_ARCHS (default x86_64; arm64 needs `rustup target add aarch64-unknown-linux-gnu`),
# through cargo-lambda (its Zig linker: a glibc every Lambda runtime has), then scripts/release.py assembles them.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
OUT=${DIST_DIR:-dist}
read -r -a ARCHS <<<"${RELEASE_ARCHS:-x86_64}"
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
export PATH="$PWD/$VENV/bin:$PATH"

for arch in "${ARCHS[@]}"; do
  case "$arch" in
  x86_64) flag=--x86-64 ;;
  arm64) flag=--arm64 ;;
  *) echo "release: unknown architecture $arch (x86_64 or arm64)" >&2 && exit 2 ;;
  esac
  for bin in cloudfront-sg-sync-lambda cloudfront-sg-sync-rotate cloudfront-sg-sync; do
    echo "== $bin ($arch)"
    cargo lambda build --locked --release "$flag" --output-format binary --lambda-dir "$TARGET/lambda/$arch" \
      --bin "$bin"
  done
done
"$VENV/bin/python" scripts/release.py assemble "$OUT" "${ARCHS[@]}"
echo "== $OUT/ for $("$VENV/bin/python" scripts/release.py version): check it with \`make check-release\`"
