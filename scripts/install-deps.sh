#!/usr/bin/env bash
# Installs the system packages pos-agent needs to build and test on Debian/Ubuntu.
# Idempotent: does nothing when everything is already there.
set -euo pipefail
# chromium, chromium-driver and the font the console names: the headless
# browser of the console's browser tests (tests/console_e2e.rs). The agent
# itself does not need them. poppler-utils: pdftotext, which turns the PDF
# copy of a receipt back into text in tests/records_e2e.rs. cmake and g++:
# the zxing-cpp crate builds the C++ library of the camera's first decoder
# from source (drivers/src/camera/zxing.rs). python3: scripts/module-circles.py,
# the check that pos-agent's modules import each other in no circle.
PKGS=(libudev-dev pkg-config libclang-dev sqlite3 ca-certificates chromium chromium-driver fonts-dejavu-core poppler-utils cmake g++ python3)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install the Rust toolchain (https://rustup.rs, or Debian's cargo package) and run this again" >&2
  exit 1
fi
