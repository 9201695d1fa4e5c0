#!/usr/bin/env bash
# Builds the pos-agent .deb from an already built binary, with dpkg-deb
# only (no network, no cargo-deb, seconds).
#
#   packaging/build-deb.sh                   # target/release/pos-agent, xz
#   packaging/build-deb.sh --build           # cargo build --release first (without the sandbox)
#   packaging/build-deb.sh --debug --fast    # target/debug/pos-agent, no compression (tests)
#   packaging/build-deb.sh --binary PATH --out DIR
#
# Prints the path of the .deb on standard output; check it with
# packaging/check-deb.sh.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
profile=release
binary=""
out="$root/target/debian"
compress=xz
build=0

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --debug) profile=debug ;;
    --release) profile=release ;;
    --binary) binary="$2"; shift ;;
    --out) out="$2"; shift ;;
    --fast) compress=none ;;
    --build) build=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build-deb.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

target_dir="${CARGO_TARGET_DIR:-$root/target}"
if [ -z "$binary" ]; then
  binary="$target_dir/$profile/pos-agent"
  if [ "$build" = 1 ]; then
    if [ "$profile" = release ]; then
      (cd "$root" && cargo build --release -p pos-agent --no-default-features >&2)
    else
      (cd "$root" && cargo build -p pos-agent --no-default-features >&2)
    fi
  fi
fi
if [ ! -x "$binary" ]; then
  echo "build-deb.sh: $binary is missing; build it first (cargo build --release -p pos-agent --no-default-features) or use --build" >&2
  exit 1
fi
for tool in dpkg-deb dpkg; do
  command -v "$tool" >/dev/null || { echo "build-deb.sh: $tool is missing (Debian's dpkg package)" >&2; exit 1; }
done

version="$("$binary" --version | awk '{print $2}')"
arch="$(dpkg --print-architecture)"
case "$version" in
  [0-9]*) ;;
  *) echo "build-deb.sh: could not read the version from $binary --version" >&2; exit 1 ;;
esac

mkdir -p "$out"
out="$(cd "$out" && pwd)"
# The staging tree sits beside the output so the binary can be hard-linked
# (a debug binary is hundreds of MB).
stage="$(mktemp -d "$out/.stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
# mktemp makes it 0700; the package's "./" must not carry that onto "/".
chmod 0755 "$stage"

install -d -m 0755 "$stage/DEBIAN" "$stage/usr/bin" "$stage/etc/pos-agent" \
  "$stage/usr/lib/systemd/system" "$stage/usr/lib/udev/rules.d" \
  "$stage/usr/share/doc/pos-agent"
ln "$binary" "$stage/usr/bin/pos-agent" 2>/dev/null || cp "$binary" "$stage/usr/bin/pos-agent"
if [ "$profile" = release ] && [ "$compress" != none ] && command -v strip >/dev/null; then
  # Strip a copy, never the cargo output the link points to.
  rm "$stage/usr/bin/pos-agent"
  cp "$binary" "$stage/usr/bin/pos-agent"
  strip --strip-unneeded "$stage/usr/bin/pos-agent"
fi
chmod 0755 "$stage/usr/bin/pos-agent"
"$binary" config init --output "$stage/etc/pos-agent/config.toml" 2>/dev/null
chmod 0644 "$stage/etc/pos-agent/config.toml"
install -m 0644 "$here/pos-agent.service" "$stage/usr/lib/systemd/system/pos-agent.service"
install -m 0644 "$here/pos-agent-backup.service" "$stage/usr/lib/systemd/system/pos-agent-backup.service"
install -m 0644 "$here/pos-agent-backup.timer" "$stage/usr/lib/systemd/system/pos-agent-backup.timer"
install -m 0644 "$here/60-pos-agent.rules" "$stage/usr/lib/udev/rules.d/60-pos-agent.rules"
install -m 0644 "$root/README.md" "$stage/usr/share/doc/pos-agent/README.md"
install -m 0644 "$here/debian/copyright" "$stage/usr/share/doc/pos-agent/copyright"
for script in postinst prerm postrm; do
  install -m 0755 "$here/debian/$script" "$stage/DEBIAN/$script"
done
install -m 0644 "$here/debian/conffiles" "$stage/DEBIAN/conffiles"

# The oldest glibc the binary needs, from its versioned symbols.
libc_dep="libc6"
if command -v objdump >/dev/null; then
  glibc="$(objdump -T "$binary" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1 || true)"
  if [ -n "$glibc" ]; then libc_dep="libc6 (>= $glibc)"; fi
fi
installed_size="$(du -sk --apparent-size "$stage" | cut -f1)"

cat > "$stage/DEBIAN/control" <<CONTROL
Package: pos-agent
Version: $version
Architecture: $arch
Maintainer: pos-agent maintainers <pos-agent@localhost>
Installed-Size: $installed_size
Depends: $libc_dep, libgcc-s1, libstdc++6, adduser
Recommends: systemd, udev
Section: misc
Priority: optional
Description: counter agent for school-service top-ups and pagoPA notices
 Runs on the PC behind a tobacconist's counter: reads payment codes from a
 camera, a scanner or the keyboard, resolves them with the municipality's
 backend, prints receipts on an ESC/POS printer, journals every payment in
 a hash-chained SQLite journal and sends it to the backend exactly once.
 .
 Ships the systemd unit pos-agent.service (not enabled: enrol the terminal
 first), pos-agent-backup.timer (a daily verified copy of the journal, not
 enabled: set [backup] dir first) and udev rules giving the pos-agent user the printer, serial and
 video devices.
CONTROL

deb="$out/pos-agent_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"$compress" --build "$stage" "$deb" >&2
echo "$deb"
