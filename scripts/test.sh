#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: formatting, lints, every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# No import circle among pos-agent's modules (issue 13): a new one fails
# here, before the build (a second, in plain Python).
python3 scripts/module-circles.py >/dev/null || {
  python3 scripts/module-circles.py >&2 || true
  echo "test.sh: an import circle in pos-agent/src (see above); break it" >&2
  exit 1
}
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# The service's binary does not carry the mocks (issue 13): without the
# default `sandbox` feature, hardware-mocks is not among pos-agent's normal
# dependencies (read from Cargo.lock, offline), and pos-agent still builds.
tree="$(cargo tree -p pos-agent --no-default-features -e normal --prefix none --offline)"
if grep -q '^hardware-mocks ' <<<"$tree"; then
  echo "test.sh: pos-agent --no-default-features still depends on hardware-mocks" >&2
  exit 1
fi
cargo check -p pos-agent --no-default-features
