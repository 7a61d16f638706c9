#!/usr/bin/env bash
# Installs what sdn needs to build and test on Debian 12, skipping what is already there.
# Safe to run repeatedly; needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  # C libraries sdn links (netlink, nftables, libvirt) and pkg-config to find them
  pkg-config libnl-3-dev libnftnl-dev libmnl-dev libvirt-dev libsqlite3-dev
  # the sdn client's https:// connections (the system's OpenSSL; sdnd's TLS is swift-nio-ssl's BoringSSL)
  libssl-dev
  # reference tools the tests use to check what sdn did to the kernel (tcpdump: the KVM and LXC guests' captures;
  # curl: sdnd's /metrics and /v1/audit over its Unix socket)
  nftables iproute2 iputils-ping netcat-openbsd procps tcpdump curl
  # certificates for the TLS tests (a CA of their own, mismatched keys) and a second opinion on fingerprints
  openssl ca-certificates
  # the test summary and the broadcast listeners of the traffic tests; venv for schemathesis (scripts/api-conformance.sh)
  python3 python3-venv
  # throughput benchmark (sdn-bench per-packet); HTTP reference load of scripts/bench-daemon.sh
  iperf3 wrk
  # kernel lab (scripts/kernel-lab/build.sh): a Debian kernel booted under QEMU with a busybox initramfs
  qemu-system-x86 busybox-static cpio
  # guests: the libvirt daemon and QEMU driver the guest tests run privately (scripts/guest-lab/libvirtd.sh;
  # libvirt-daemon-system creates the libvirt-qemu user libvirtd needs), virsh, and the LXC tools
  libvirt-daemon-system libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients lxc
  # the cluster store's tests start a private etcd (SDNEtcdTests); etcdctl to look at what the store wrote
  etcd-server etcd-client
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all Debian packages present"
fi

if ! command -v swift >/dev/null 2>&1; then
  if [[ -x /opt/swift/usr/bin/swift ]]; then
    echo "setup: add /opt/swift/usr/bin to PATH" >&2
  else
    echo "setup: Swift 6.x is required (expected at /opt/swift)" >&2
    exit 1
  fi
fi
