#!/usr/bin/env bash
# What declared guests that do not run cost a node: the kernel memory of their firewall (Slab of
# /proc/meminfo, before and after `sdn apply` in a fresh namespace, and after the namespace is gone),
# the ruleset's size, and the apply time. Their ports do not exist; only their chains, set and map
# elements do. Per-packet cost for the guests that do run: `sdn-bench per-packet` (BENCHMARKS.md §5).
#
#   scripts/bench-declared-guests.sh [GUESTS…]      (default: 100 1000; needs root and release builds)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-.build/release}
counts=("$@"); ((${#counts[@]})) || counts=(100 1000)
work=$(mktemp -d)
trap 'ip netns delete sdnbench-decl 2>/dev/null || true; rm -rf "$work"' EXIT
slab() { awk '/^Slab:/ {print $2}' /proc/meminfo; }
settle() { sync; echo 2 > /proc/sys/vm/drop_caches 2>/dev/null || true; sleep 1; }
printf '%-8s %-10s %-8s %-10s %-12s %-14s %-12s\n' guests chains rules elements "apply ms" "slab +KiB" "per guest KiB"
for count in "${counts[@]}"; do
  "$bin/sdn-bench" gen-config --guests="$count" --out "$work/c$count" >/dev/null
  ip netns delete sdnbench-decl 2>/dev/null || true
  ip netns add sdnbench-decl
  ip -n sdnbench-decl link set lo up
  ip -n sdnbench-decl link add eth0 type veth peer name eth0peer
  settle; before=$(slab)
  start=$(date +%s%N)
  "$bin/sdn" apply --netns sdnbench-decl --yes "$work/c$count" >/dev/null
  elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
  settle; after=$(slab)
  ruleset=$(ip netns exec sdnbench-decl nft list ruleset)
  chains=$(grep -c '^\s*chain ' <<<"$ruleset" || true)
  rules=$(ip netns exec sdnbench-decl nft -a list ruleset | grep -c '# handle' || true)
  elements=$(ip netns exec sdnbench-decl nft -j list ruleset | python3 -c 'import json,sys; d=json.load(sys.stdin)["nftables"]; print(sum(len(o["set"].get("elem",[])) for o in d if "set" in o) + sum(len(o["map"].get("elem",[])) for o in d if "map" in o))')
  ip netns delete sdnbench-decl
  settle; gone=$(slab)
  growth=$((after - before))
  printf '%-8s %-10s %-8s %-10s %-12s %-14s %-12s (after the namespace is gone: %+d KiB)\n' "$count" "$chains" "$rules" "$elements" "$elapsed" "$growth" \
    "$(awk -v g="$growth" -v n="$count" 'BEGIN {printf "%.1f", g / n}')" $((gone - before))
done
