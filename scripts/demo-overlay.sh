#!/usr/bin/env bash
# The overlay part of the demo: two network namespaces play two nodes joined by one underlay link
# (a veth pair, the "cable"); namespaces play their containers. `sdn apply` programs each node over
# netlink — address on the underlay, vnet bridge, VXLAN device with one flood entry per peer, the
# containers' ports, and the firewall — as one plan. Then ping and TCP cross the overlay, the firewall
# holds, drift is found and repaired. Only namespaces made here are touched; they are removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
sdn=${SDN:-.build/debug/sdn}
config=(--config examples/overlay-demo/Topologies --config examples/overlay-demo/Policies)
nodes=(sdndemo-n1 sdndemo-n2)
# vmid:node:mac:address
guests=(101:sdndemo-n1:52:54:00:50:01:01:10.50.0.11
        102:sdndemo-n2:52:54:00:50:01:02:10.50.0.12
        103:sdndemo-n2:52:54:00:50:01:03:10.50.0.13)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  for ns in "${nodes[@]}" sdndemo-g101 sdndemo-g102 sdndemo-g103; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns delete "$ns" 2>/dev/null || true
  done
}
trap cleanup EXIT
cleanup

step "two namespaces as nodes n1 and n2, one veth pair as the underlay cable (no addresses yet)"
for ns in "${nodes[@]}"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip -n sdndemo-n1 link add eth0 type veth peer name eth0 netns sdndemo-n2
echo "  containers (as LXC starts them: host end veth<vmid>i0 in the node, eth0 in the container):"
for entry in "${guests[@]}"; do
  IFS=: read -r id node m1 m2 m3 m4 m5 m6 address <<<"$entry"
  ns="sdndemo-g$id"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$node" link add "veth${id}i0" type veth peer name eth0 netns "$ns"
  ip -n "$ns" link set eth0 address "$m1:$m2:$m3:$m4:$m5:$m6" mtu 1450
  ip -n "$ns" addr add "$address/24" dev eth0
  ip -n "$ns" link set eth0 up
  echo "    $id on ${node#sdndemo-}: veth${id}i0 ↔ $address"
done

step "sdn plan --node n1 --netns sdndemo-n1   (links and firewall, before anything is done)"
$sdn plan "${config[@]}" --node n1 --netns sdndemo-n1 2>/dev/null | grep -v "^      " || true

for n in 1 2; do
  step "sdn apply --node n$n --netns sdndemo-n$n --yes"
  $sdn apply "${config[@]}" --node n$n --netns sdndemo-n$n --yes 2>/dev/null | grep -E "^(kernel|node|applied)"
done

step "what the kernel of n1 now holds (read with ip/bridge, not with sdn)"
ip -n sdndemo-n1 -br link show type bridge
ip -n sdndemo-n1 -d link show vxlan_blue | grep -o "vxlan id [0-9]* local [0-9.]*.*dstport [0-9]*" | head -1
bridge -n sdndemo-n1 fdb show dev vxlan_blue | grep "00:00:00:00:00:00"
ip -n sdndemo-n1 -br addr show dev eth0

step "traffic across the overlay"
ip netns exec sdndemo-g101 sh -c 'while true; do printf "HTTP/1.0 200 OK\r\n\r\nhello from web on n1\n" | nc -l -p 80 -q 1 >/dev/null 2>&1; done' &
disown
sleep 0.5
ip netns exec sdndemo-g102 ping -c 2 -W 2 10.50.0.11 | grep -E "bytes from|packet loss"
echo "  client (n2) → web (n1) tcp/80:"
ip netns exec sdndemo-g102 nc -w 3 10.50.0.11 80 </dev/null | sed 's/^/    /' | tail -1
echo "  intruder (n2) → web (n1) tcp/80 (the policy accepts only the client):"
if ip netns exec sdndemo-g103 nc -z -w 2 10.50.0.11 80; then echo "    CONNECTED (unexpected)"; exit 1; else echo "    refused by the firewall (no answer)"; fi
$sdn trace "${config[@]}" --node n1 --kernel minimal --from 10.50.0.13 --to 101 tcp/80 2>/dev/null | tail -2 | sed 's/^/    /'

step "sdn apply again: nothing to do"
$sdn apply "${config[@]}" --node n1 --netns sdndemo-n1 --yes 2>/dev/null | grep -E "^node"

step "drift: someone removes a flood entry by hand; sdn diff finds it, sdn apply repairs it"
bridge -n sdndemo-n1 fdb del 00:00:00:00:00:00 dev vxlan_blue dst 192.0.2.2
$sdn diff "${config[@]}" --node n1 --netns sdndemo-n1 2>/dev/null || echo "  (exit status $?: drift)"
$sdn apply "${config[@]}" --node n1 --netns sdndemo-n1 --yes 2>/dev/null | grep -E "^(applied|node)"
ip netns exec sdndemo-g102 ping -c 1 -W 2 10.50.0.11 | grep -E "packet loss"
