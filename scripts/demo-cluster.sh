#!/usr/bin/env bash
# The cluster part of the demo: a private etcd on loopback holds one desired state; two namespaces play
# nodes n1 and n2 of examples/overlay-demo (VXLAN over a veth "cable"), each with its own sdnd on that
# etcd. A push and `sdn apply --wait` through n1 reach both; n2's sdnd is killed (-9) and the next
# `apply --wait` names it dead instead of hanging; restarted, it catches up. Everything made here
# (namespaces, etcd's data, the daemons) is removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
sdn=$(realpath "${SDN:-.build/debug/sdn}")
sdnd=$(realpath "${SDND:-.build/debug/sdnd}")
etcd=$(command -v etcd || true)
[[ -n $etcd ]] || { echo "demo-cluster: etcd is not installed (scripts/setup.sh installs etcd-server)" >&2; exit 2; }
work=$(mktemp -d)
nodes=(n1 n2)
declare -A pids
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  for pid in "${pids[@]}"; do { kill -9 "$pid" && wait "$pid"; } 2>/dev/null || true; done
  for ns in sdndemo-c-n1 sdndemo-c-n2 sdndemo-c-g101 sdndemo-c-g102 sdndemo-c-g103; do ip netns delete "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cleanup; mkdir -p "$work"

port=$((23000 + RANDOM % 2000))
"$etcd" --name demo --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
  --listen-peer-urls "http://127.0.0.1:$((port + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
  --initial-cluster "demo=http://127.0.0.1:$((port + 1))" >"$work/etcd.log" 2>&1 &
pids[etcd]=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
etcd_url="http://127.0.0.1:$port"

start_node() {  # start_node NODE: its sdnd on the cluster's etcd, acting on the node's namespace
  "$sdnd" --etcd "$etcd_url" --etcd-prefix /sdndemo/ --node "$1" --netns "sdndemo-c-$1" --listen "unix://$work/$1.sock" \
    --state-dir "$work/$1" --libvirt none --liveness-ttl 3 --log-level warning 2>>"$work/$1.log" &
  pids[$1]=$!
  for _ in $(seq 100); do [[ -S $work/$1.sock ]] && break; sleep 0.1; done
}
# From the configuration's copy: push sends paths as given, relative to where it runs.
on() { local node=$1; shift; (cd "$work/cfg" && SDN_SERVER="unix://$work/$node.sock" "$sdn" "$@"); }
mkdir -p "$work/cfg" && cp -r examples/overlay-demo/Topologies examples/overlay-demo/Policies "$work/cfg/"

step "etcd on $etcd_url; nodes n1 and n2 as namespaces joined by a veth; three containers"
for node in "${nodes[@]}"; do ip netns add "sdndemo-c-$node"; ip -n "sdndemo-c-$node" link set lo up; done
ip -n sdndemo-c-n1 link add eth0 type veth peer name eth0 netns sdndemo-c-n2
for entry in 101:n1:01:10.50.0.11 102:n2:02:10.50.0.12 103:n2:03:10.50.0.13; do
  IFS=: read -r id node mac address <<<"$entry"
  ip netns add "sdndemo-c-g$id"
  ip -n "sdndemo-c-$node" link add "veth${id}i0" type veth peer name eth0 netns "sdndemo-c-g$id"
  ip -n "sdndemo-c-g$id" link set eth0 address "52:54:00:50:01:$mac" mtu 1450
  ip -n "sdndemo-c-g$id" addr add "$address/24" dev eth0
  ip -n "sdndemo-c-g$id" link set eth0 up
done
for node in "${nodes[@]}"; do start_node "$node"; done
echo "sdnd --etcd $etcd_url --node n1 (pid ${pids[n1]}), --node n2 (pid ${pids[n2]})"

step "through n1: sdn push examples/overlay-demo, then sdn apply --yes --wait"
on n1 push Topologies Policies -m "cluster demo" | tail -1
on n1 apply --yes --wait --timeout 30 | grep -E "^(node|generation)"

step "sdn node list  (asked of n2: the same cluster)"
on n2 node list

step "traffic across the overlay: 102 on n2 → 101 on n1"
ip netns exec sdndemo-c-g102 ping -c 2 -W 2 10.50.0.11 | grep -E "packet loss"

step "kill -9 n2's sdnd; its kernel keeps the firewall it applied"
kill -9 "${pids[n2]}"; wait "${pids[n2]}" 2>/dev/null || true; unset 'pids[n2]'
ip netns exec sdndemo-c-g102 ping -c 1 -W 2 10.50.0.11 | grep -E "packet loss"
if ip netns exec sdndemo-c-g103 nc -z -w 2 10.50.0.11 80; then echo "  103 → 101 tcp/80 CONNECTED (unexpected)"; exit 1; else echo "  103 → 101 tcp/80 still refused"; fi

step "a rule change through n1: apply --wait names n2 dead (its 3 s lease expired) instead of hanging"
sed -i 's/- in accept Ping/- in accept Ping\n      - in accept tcp dport 443 from @client/' "$work/cfg/Policies/guests.yaml"
on n1 push Topologies Policies -m "https for the client" | tail -1
on n1 apply --yes --wait --timeout 30 2>&1 | grep -E "^(node|generation|sdn:)"
on n1 node list || true

step "n2's sdnd restarts: it catches up to generation 2 and is live again"
start_node n2
for _ in $(seq 100); do on n1 node list >/dev/null 2>&1 && break; sleep 0.1; done
on n1 node list
echo "  n2's ruleset: $(ip netns exec sdndemo-c-n2 nft list ruleset | grep -c . ) lines; 102 → 101 again:"
ip netns exec sdndemo-c-g102 ping -c 1 -W 2 10.50.0.11 | grep -E "packet loss"
