#!/usr/bin/env bash
# A private libvirtd (with its virtlogd) inside a test network namespace, touching nothing of the
# host's libvirt: its configuration, sockets, state and logs all live under DIR, bind-mounted over
# /etc/libvirt, /run/libvirt, /var/lib/libvirt and /var/log/libvirt in a mount namespace of its own.
# QEMU's taps therefore live in NETNS. The QEMU driver runs guests as root with no security driver
# (no libvirt-qemu chown, no AppArmor profile): this is a test daemon.
#
#   scripts/guest-lab/libvirtd.sh start DIR NETNS
#       Starts it (DIR is created; NETNS must exist) and waits until its socket answers, then prints
#       `uri=qemu+unix:///system?socket=DIR/run/libvirt-sock`, `libvirtd=PID` and `virtlogd=PID`.
#       Hooks go in DIR/etc/hooks/ (e.g. DIR/etc/hooks/qemu) before it starts.
#   scripts/guest-lab/libvirtd.sh stop DIR
#       Kills the QEMU processes it started, then libvirtd and virtlogd (by their pid files in DIR).
#
# Exits 2 when libvirtd, virtlogd or virsh is missing (scripts/setup.sh installs them).
set -euo pipefail

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64; }
fail() { echo "libvirtd.sh: $*" >&2; exit "${2:-1}"; }

(($# >= 2)) || usage
action=$1 dir=$2
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
uri="qemu+unix:///system?socket=$dir/run/libvirt-sock"

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop() {
  # QEMU outlives libvirtd: stop the guests first, by the pid files libvirt keeps for them.
  for pidfile in "$dir"/run/qemu/*.pid; do
    [[ -f $pidfile ]] || continue
    kill -KILL "$(cat "$pidfile")" 2>/dev/null || true
  done
  for daemon in libvirtd virtlogd; do
    pidfile="$dir/$daemon.pid"
    alive "$pidfile" || continue
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -f "$dir/libvirtd.pid" "$dir/virtlogd.pid"
}

case $action in
  start)
    (($# == 3)) || usage
    netns=$3
    for tool in libvirtd virtlogd virsh unshare ip; do
      command -v "$tool" >/dev/null || fail "\`$tool\` not found (scripts/setup.sh installs libvirt-daemon-system and libvirt-clients)" 2
    done
    [[ -e /run/netns/$netns ]] || fail "no network namespace $netns"
    if alive "$dir/libvirtd.pid"; then fail "a libvirtd already runs for $dir (pid $(cat "$dir/libvirtd.pid"))"; fi
    mkdir -p "$dir"/{etc,run,lib,log,cache}
    if [[ ! -f $dir/etc/libvirtd.conf ]]; then
      cp -r /etc/libvirt/. "$dir/etc/"
      # No autostarted networks or domains of the host's configuration.
      rm -rf "$dir/etc/qemu/networks/autostart" "$dir/etc/qemu/autostart"
    fi
    mkdir -p "$dir/etc/hooks"
    printf 'user = "root"\ngroup = "root"\nremember_owner = 0\nsecurity_driver = "none"\n' >"$dir/etc/qemu.conf"
    # Sockets under DIR/run; unix_sock_dir would also do, but /run/libvirt is where every libvirt
    # tool looks, and the bind mount makes the whole daemon private.
    ip netns exec "$netns" unshare -m --propagation private sh -c '
      set -e
      dir=$1
      mount --bind "$dir/etc" /etc/libvirt
      mkdir -p /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt
      mount --bind "$dir/run" /run/libvirt
      mount --bind "$dir/lib" /var/lib/libvirt
      mount --bind "$dir/log" /var/log/libvirt
      mount --bind "$dir/cache" /var/cache/libvirt
      virtlogd -d -p "$dir/virtlogd.pid"
      libvirtd -d -p "$dir/libvirtd.pid"
    ' sh "$dir" >>"$dir/daemon.log" 2>&1 || { stop; fail "libvirtd did not start: $(tail -3 "$dir/daemon.log" | tr '\n' ' ')"; }
    for _ in $(seq 100); do
      if virsh -q -c "$uri" uri >/dev/null 2>&1; then
        echo "uri=$uri"
        echo "libvirtd=$(cat "$dir/libvirtd.pid")"
        echo "virtlogd=$(cat "$dir/virtlogd.pid")"
        exit 0
      fi
      sleep 0.1
    done
    stop
    fail "libvirtd's socket $dir/run/libvirt-sock did not answer within 10 s: $(tail -3 "$dir/daemon.log" | tr '\n' ' ')"
    ;;
  stop)
    stop
    ;;
  *) usage ;;
esac
