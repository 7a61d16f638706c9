#!/usr/bin/env bash
# The firewall part of the demo: a network namespace plays the node (bridges `web` and `db` as the
# demo topology says), namespaces play the guests; `sdn apply --firewall` programs the policy over
# netlink, real packets pass or not, and `sdn trace` explains each verdict. Everything happens in
# namespaces created here and removed at the end; the host's own network is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
sdn=${SDN:-.build/debug/sdn}
node=sdndemo-node
guests=(101:tap101i0:52:54:00:00:01:01:10.10.0.11/24:10.10.0.1:web
        102:veth102i0:52:54:00:00:01:02:10.10.0.12/24:10.10.0.1:web
        201:tap201i0:52:54:00:00:02:01:10.20.0.11/24:10.20.0.1:db)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  for pid in $(ip netns pids "$node" 2>/dev/null) ; do kill -9 "$pid" 2>/dev/null || true; done
  for entry in "${guests[@]}"; do
    id=${entry%%:*}
    for pid in $(ip netns pids "sdndemo-$id" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns delete "sdndemo-$id" 2>/dev/null || true
  done
  ip netns delete "$node" 2>/dev/null || true
}
trap cleanup EXIT
cleanup

step "a namespace as the node: bridges web (10.10.0.1) and db (10.20.0.1), guests as namespaces"
ip netns add "$node"
ip -n "$node" link set lo up
ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1
for bridge in web:10.10.0.1/24 db:10.20.0.1/24; do
  ip -n "$node" link add "${bridge%%:*}" type bridge
  ip -n "$node" addr add "${bridge#*:}" dev "${bridge%%:*}"
  ip -n "$node" link set "${bridge%%:*}" up
done
for entry in "${guests[@]}"; do
  IFS=: read -r id port m1 m2 m3 m4 m5 m6 address gateway bridge <<<"$entry"
  ns="sdndemo-$id"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$node" link add "$port" type veth peer name eth0 netns "$ns"
  ip -n "$node" link set "$port" master "$bridge" up
  ip -n "$ns" link set eth0 address "$m1:$m2:$m3:$m4:$m5:$m6"
  ip -n "$ns" addr add "$address" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "$gateway"
  echo "  guest $id: $port in bridge $bridge, ${address%/*}"
done

step "sdn apply --firewall --netns $node   (one netlink transaction)"
$sdn apply --firewall --netns "$node" --yes 2>/dev/null | tee /tmp/sdndemo-apply.log | grep -v "^  "
# The trace must model the same kernel the apply probed.
if grep -q "→ br_netfilter" /tmp/sdndemo-apply.log; then profile=minimal; else profile=full; fi
step "sdn apply again: nothing to do"
$sdn apply --firewall --netns "$node" --yes 2>/dev/null

# A TCP connection attempt from one guest to another; prints what the kernel did.
tcp() { # from to-ns address port
  ip netns exec "sdndemo-$2" nc -l -p "$4" >/dev/null 2>&1 &
  local server=$!
  sleep 0.2
  if ip netns exec "sdndemo-$1" nc -z -w 2 "$3" "$4"; then result="connected"; else result="blocked"; fi
  kill -9 "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true
  echo "$result"
}
flow() { # label from to address port
  local observed predicted
  observed=$(tcp "$2" "$3" "$4" "$5")
  predicted=$($sdn trace --from "$2" --to "$4" "tcp/$5" --kernel "$profile" --color never 2>/dev/null | tail -1 || true)
  printf '  %-48s kernel: %-10s sdn trace: %s\n' "$1" "$observed" "${predicted#verdict: }"
}

step "traffic: what the kernel does, and what sdn trace predicted"
flow "client 102 → web1 101 tcp/80 (HTTP macro)" 102 101 10.10.0.11 80
flow "client 102 → web1 101 tcp/9100 (office only)" 102 101 10.10.0.11 9100
flow "web1 101 → db1 201 tcp/5432 (routed, web tier)" 101 201 10.20.0.11 5432
flow "client 102 → db1 201 tcp/22 (policy-in reject)" 102 201 10.20.0.11 22

step "anti-spoofing: client 102 forges the source address 10.10.0.99"
ip -n sdndemo-102 addr add 10.10.0.99/24 dev eth0
if ip netns exec sdndemo-102 ping -c 1 -W 1 -I 10.10.0.99 10.10.0.11 >/dev/null; then echo "  forged ping passed (unexpected)"; else echo "  forged ping dropped"; fi
ip netns exec "$node" nft list chain bridge sdn guest-102-net0-spoof | grep ipfilter-v4 | sed 's/^\s*/  /'

step "sdn trace --from 101 --to 10.20.0.11 tcp/5432   (every chain and rule, with the policy line)"
$sdn trace --from 101 --to 10.20.0.11 tcp/5432 --kernel "$profile" --color never | sed -n '/inet forward/,$p'

step "drift: someone adds a rule by hand; sdn diff shows it, sdn apply repairs it"
ip netns exec "$node" nft add rule inet sdn forward tcp dport 4444 accept
$sdn diff --firewall --netns "$node" 2>/dev/null || true
$sdn apply --firewall --netns "$node" --yes 2>/dev/null | grep -E "applied|up to date"
