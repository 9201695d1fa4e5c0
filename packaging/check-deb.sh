#!/usr/bin/env bash
# Checks a pos-agent .deb: its file list, its control fields, its maintainer
# scripts, and the systemd unit (systemd-analyze verify, when available).
#
#   packaging/check-deb.sh target/debian/pos-agent_0.1.0_amd64.deb
#
# Exit status 0 when everything is in place; otherwise one line per problem.
set -euo pipefail

deb="${1:?usage: check-deb.sh FILE.deb}"
here="$(cd "$(dirname "$0")" && pwd)"
fail=0
problem() { echo "check-deb: $*" >&2; fail=1; }

files="$(dpkg-deb -c "$deb")"
for want in \
  ./usr/bin/pos-agent \
  ./usr/lib/systemd/system/pos-agent.service \
  ./usr/lib/systemd/system/pos-agent-backup.service \
  ./usr/lib/systemd/system/pos-agent-backup.timer \
  ./usr/lib/udev/rules.d/60-pos-agent.rules \
  ./etc/pos-agent/config.toml \
  ./usr/share/doc/pos-agent/README.md \
  ./usr/share/doc/pos-agent/copyright; do
  grep -q " $want\$" <<<"$files" || problem "missing $want"
done
grep -q '^-rwxr-xr-x root/root .* ./usr/bin/pos-agent$' <<<"$files" \
  || problem "/usr/bin/pos-agent is not root-owned mode 0755"
grep -q '^drwxr-xr-x root/root .* \./$' <<<"$files" || problem "the package root ./ is not mode 0755"
foreign="$(grep -v ' root/root ' <<<"$files" || true)"
[ -z "$foreign" ] || problem "files not owned by root: ${foreign%%$'\n'*}"

# Values are read whole before matching: `cmd | grep -q` under pipefail
# fails at random when grep exits before cmd has written everything.
for field in Package Version Architecture Maintainer Depends Description Installed-Size; do
  value="$(dpkg-deb -f "$deb" "$field")"
  [ -n "$value" ] || problem "control field $field is empty"
done
[ "$(dpkg-deb -f "$deb" Package)" = pos-agent ] || problem "Package is not pos-agent"
depends="$(dpkg-deb -f "$deb" Depends)"
grep -q adduser <<<"$depends" || problem "Depends lacks adduser (postinst uses it)"

info="$(dpkg-deb -I "$deb")"
for script in postinst prerm postrm conffiles; do
  grep -q " $script\$\| $script " <<<"$info" || problem "control archive lacks $script"
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
dpkg-deb --ctrl-tarfile "$deb" > "$tmp/control.tar"
tar -x -f "$tmp/control.tar" -C "$tmp" ./conffiles ./postinst
grep -qx /etc/pos-agent/config.toml "$tmp/conffiles" || problem "config.toml is not a conffile"
sh -n "$tmp/postinst" || problem "postinst is not valid sh"

# The shipped config must be valid as shipped.
dpkg-deb --fsys-tarfile "$deb" > "$tmp/data.tar"
tar -x -f "$tmp/data.tar" -C "$tmp" ./etc/pos-agent/config.toml ./usr/lib/systemd/system/pos-agent.service
rm -f "$tmp/data.tar"
if [ -x "${POS_AGENT_BIN:-}" ]; then
  "$POS_AGENT_BIN" config check "$tmp/etc/pos-agent/config.toml" >/dev/null \
    || problem "the shipped config.toml does not pass config check"
fi

unit="$tmp/usr/lib/systemd/system/pos-agent.service"
for line in 'User=pos-agent' 'Restart=on-failure' 'StateDirectory=pos-agent' \
  'SupplementaryGroups=lp dialout video' 'NoNewPrivileges=yes' 'ProtectSystem=strict'; do
  grep -qx "$line" "$unit" || problem "pos-agent.service lacks $line"
done
grep -q '^PrivateDevices=yes' "$unit" && problem "PrivateDevices would hide the printer and the camera"
if command -v systemd-analyze >/dev/null 2>&1; then
  # verify wants ExecStart's binary to exist: point it at a stand-in.
  sed "s|^ExecStart=/usr/bin/pos-agent|ExecStart=/bin/true|" "$unit" > "$tmp/pos-agent.service"
  if ! out="$(systemd-analyze verify --man=no "$tmp/pos-agent.service" 2>&1)"; then
    problem "systemd-analyze verify: $out"
  elif grep -qi 'unknown\|invalid\|ignoring' <<<"$out"; then
    problem "systemd-analyze verify: $out"
  fi
else
  echo "check-deb: systemd-analyze not available, unit not verified" >&2
fi
if command -v udevadm >/dev/null 2>&1 && udevadm verify --help >/dev/null 2>&1; then
  udevadm verify "$here/60-pos-agent.rules" >/dev/null || problem "udevadm verify failed"
fi

if [ "$fail" = 0 ]; then
  echo "check-deb: $deb OK ($(dpkg-deb -f "$deb" Version), $(grep -c . <<<"$files") entries)"
fi
exit "$fail"
