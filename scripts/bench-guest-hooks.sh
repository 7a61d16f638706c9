#!/usr/bin/env bash
# The libvirt hook's cost as libvirt sees it: `sdn hook qemu DOMAIN prepare begin -` (sdnd makes
# tap101i0, puts it in its bridge, answers) and `release end` (the tap removed), N cycles against a
# release-built sdnd running the demo node in a namespace created here. Prints p50/p99 of the hook's
# wall time and of sdnd's own time (the report's milliseconds), and the hook's floor: the same hook
# for a domain with no sdn tap (process start, XML read, nothing asked).
#
#   scripts/bench-guest-hooks.sh [CYCLES]     (default 100; needs root and release builds of sdn, sdnd)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-.build/release}
cycles=${1:-100}
node=sdnbench-hooks
work=$(mktemp -d)
export SDN_SERVER="unix://$work/sdnd.sock"
cleanup() {
  [[ -n ${pid:-} ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  ip netns delete "$node" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns delete "$node" 2>/dev/null || true
ip netns add "$node"
ip -n "$node" link set lo up
ip -n "$node" link add eth0 type veth peer name eth0peer
"$bin/sdnd" --state-dir "$work/db" --listen "$SDN_SERVER" --netns "$node" --libvirt none --log-level warning >/dev/null 2>"$work/sdnd.log" &
pid=$!
for _ in $(seq 100); do [[ -S $work/sdnd.sock ]] && break; sleep 0.1; done
"$bin/sdn" push Topologies Policies -m bench >/dev/null
"$bin/sdn" apply --yes >/dev/null
printf "<domain type='qemu'><name>vm101</name><devices><interface type='ethernet'><mac address='52:54:00:00:01:01'/><target dev='tap101i0' managed='no'/><model type='virtio'/></interface></devices></domain>" >"$work/sdn.xml"
printf "<domain type='qemu'><name>other</name><devices><interface type='bridge'><source bridge='br9'/></interface></devices></domain>" >"$work/other.xml"
now() { date +%s%N; }
for ((i = 0; i < cycles; i++)); do
  start=$(now)
  "$bin/sdn" hook qemu vm101 prepare begin - <"$work/sdn.xml" 2>>"$work/prepare.txt"
  echo $(( ($(now) - start) / 1000 )) >>"$work/prepare-wall.txt"
  start=$(now)
  "$bin/sdn" hook qemu vm101 release end - <"$work/sdn.xml" 2>/dev/null
  echo $(( ($(now) - start) / 1000 )) >>"$work/release-wall.txt"
  start=$(now)
  "$bin/sdn" hook qemu other prepare begin - <"$work/other.xml"
  echo $(( ($(now) - start) / 1000 )) >>"$work/floor-wall.txt"
done
sed -n 's/.* in \([0-9.]*\) ms .*/\1/p' "$work/prepare.txt" | awk '{print $1 * 1000}' >"$work/prepare-sdnd.txt"
stats() { sort -n "$1" | awk -v label="$2" '{v[NR] = $1} END {p50 = v[int(NR * 0.5) + 1]; p99 = v[int(NR * 0.99) + 1 > NR ? NR : int(NR * 0.99) + 1]; printf "%-44s n=%-4d p50 %7.2f ms  p99 %7.2f ms\n", label, NR, p50 / 1000, p99 / 1000}'; }
stats "$work/prepare-wall.txt" "hook prepare, wall (what libvirt waits for)"
stats "$work/prepare-sdnd.txt" "prepare inside sdnd (tap made, attached)"
stats "$work/release-wall.txt" "hook release, wall"
stats "$work/floor-wall.txt" "hook for a domain with no sdn tap, wall"
