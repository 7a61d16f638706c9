#!/usr/bin/env bash
# Installs sdn on this host: release builds of sdn and sdnd in $PREFIX/bin, the libvirt and LXC hooks,
# the systemd unit, and /etc/default/sdn. Idempotent; needs root. Does not start anything.
#
#   scripts/install.sh [--prefix /usr/local] [--no-build]
#
# The libvirt hook goes to /etc/libvirt/hooks/qemu.d/sdn (an existing /etc/libvirt/hooks/qemu of
# yours is left alone: libvirt runs both). libvirtd reads its hooks when it starts: restart it once.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=/usr/local build=1
while (($#)); do
  case $1 in
    --prefix) prefix=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument $1" >&2; exit 64 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "install.sh: run as root" >&2; exit 1; }
export PATH=/opt/swift/usr/bin:$PATH
if ((build)); then swift build -c release --product sdn && swift build -c release --product sdnd; fi
bin=$(swift build -c release --show-bin-path)
install -d "$prefix/bin" "$prefix/lib/sdn/hooks" /etc/libvirt/hooks/qemu.d /run/sdn
install -m 0755 "$bin/sdn" "$bin/sdnd" "$prefix/bin/"
for hook in libvirt-qemu lxc; do
  sed "s#/usr/local/bin/sdn#$prefix/bin/sdn#" "packaging/hooks/$hook" > "$prefix/lib/sdn/hooks/$hook"
  chmod 0755 "$prefix/lib/sdn/hooks/$hook"
done
ln -sf "$prefix/lib/sdn/hooks/libvirt-qemu" /etc/libvirt/hooks/qemu.d/sdn
[[ -e /etc/default/sdn ]] || printf '# Where the hooks and the CLI find sdnd.\nSDN_SERVER=unix:///run/sdn/sdnd.sock\n' > /etc/default/sdn
if [[ -d /etc/systemd/system ]]; then
  sed "s#/usr/local/bin/sdnd#$prefix/bin/sdnd#" packaging/sdnd.service > /etc/systemd/system/sdnd.service
fi
echo "installed sdn and sdnd in $prefix/bin, hooks in $prefix/lib/sdn/hooks (libvirt: /etc/libvirt/hooks/qemu.d/sdn)"
echo "next: systemctl daemon-reload && systemctl enable --now sdnd; restart libvirtd once so it reads the hook"
