#!/usr/bin/env bash
# Boots the kernel lab once with SCRIPT as /lab/run.sh and prints the serial console; for trying
# things by hand (tests use KernelLab.run in Sources/SDNTesting).
#
#   scripts/kernel-lab/run.sh SCRIPT [--binary PATH]… [--file GUEST=HOST]…
#
# Example: a shell script running `ip -d link` after creating a bond, or `sdn validate` with
#   --binary .build/debug/sdn --file /lab/fixture=examples/vlan-bond/topology.yaml
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
script=${1:?usage: run.sh SCRIPT [--binary PATH]… [--file GUEST=HOST]…}
shift
image=$(mktemp /tmp/kernel-lab.XXXXXX.img)
trap 'rm -f "$image"' EXIT
config=$("$here/build.sh" --image "$image" --script "$script" "$@")
kernel=$(sed -n 's/^kernel=//p' <<<"$config")
exec timeout -s KILL "${SDN_KERNEL_LAB_TIMEOUT:-300}" qemu-system-x86_64 \
  -accel tcg -m 1024 -nodefaults -nographic -no-reboot -serial stdio -monitor none \
  -kernel "$kernel" -initrd "$image" -append "console=ttyS0 quiet panic=-1" </dev/null
