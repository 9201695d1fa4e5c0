#!/usr/bin/env bash
# Installs what is needed, builds pos-agent and starts the sandbox: the agent
# with a mock backend and mock devices. Open the printed console URL.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
exec cargo run --release -p pos-agent -- sandbox "$@"
