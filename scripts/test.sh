#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: formatting, lints, every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
