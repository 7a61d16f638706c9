#!/usr/bin/env bash
# The daemon part of the demo: sdnd runs as the demo node (a network namespace), the sdn CLI is its
# client over the Unix socket. Push the example, plan, apply; a KVM guest's tap is prepared by the libvirt hook
# (`sdn hook qemu`) with its firewall, an unknown guest is refused; `sdn guests`; a rule is added through the API; a rule deleted by hand with nft is put back;
# sdn status. Everything happens in a namespace created here and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
sdn=${SDN:-.build/debug/sdn}
sdnd=${SDND:-.build/debug/sdnd}
node=sdndemo-daemon
state=$(mktemp -d)
export SDN_SERVER="unix://$state/sdnd.sock"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  [[ -n ${events_pid:-} ]] && kill "$events_pid" 2>/dev/null || true
  [[ -n ${daemon_pid:-} ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  ip netns delete "$node" 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT
ip netns delete "$node" 2>/dev/null || true

step "sdnd --netns $node  (a namespace plays node demo1; its uplink eth0 is a veth)"
ip netns add "$node"
ip -n "$node" link set lo up
ip -n "$node" link add eth0 type veth peer name eth0peer
"$sdnd" --state-dir "$state/db" --listen "$SDN_SERVER" --netns "$node" --log-level warning 2>"$state/sdnd.log" &
daemon_pid=$!
for _ in $(seq 100); do [[ -S $state/sdnd.sock ]] && break; sleep 0.1; done
echo "sdnd $daemon_pid listening on $SDN_SERVER (store: $state/db/sdn.sqlite)"

step "sdn events  (in the background: what the daemon does, as it happens)"
"$sdn" events --timeout 60 > "$state/events.txt" 2>&1 &
events_pid=$!
sleep 0.3

step "sdn push Topologies Policies  (a pending revision; nothing is applied yet)"
"$sdn" push Topologies Policies -m "demo: first revision"
"$sdn" history

step "sdn plan  (what applying it would do on the node)"
"$sdn" plan | sed -n 1,16p || true
echo "…"

step "sdn apply --yes"
"$sdn" apply --yes | tail -3

step "a KVM guest starts: libvirt's qemu hook asks sdnd for its tap first  (sdn hook qemu vm101 prepare begin -)"
"$sdn" guest xml 101 | sed 's/^/  /'
{ echo "<domain type='qemu'><name>vm101</name><devices>"; "$sdn" guest xml 101; echo "</devices></domain>"; } > "$state/vm101.xml"
"$sdn" hook qemu vm101 prepare begin - < "$state/vm101.xml" 2>&1 | sed 's/^/  /'
ip -n "$node" -br link show tap101i0 | sed 's/^/  /'
ip -n "$node" -d link show tap101i0 | grep -o "master [a-z0-9]*" | sed 's/^/  /'

step "a guest sdn does not know is refused: no port, and libvirt would not start it"
sed 's/tap101i0/tap999i0/' "$state/vm101.xml" > "$state/vm999.xml"
"$sdn" hook qemu vm999 prepare begin - < "$state/vm999.xml" 2>&1 | sed 's/^/  /' || true

step "sdn guests  (state, ports, firewall, counters)"
"$sdn" guests || true

step "sdn rule add guest:102 'in accept tcp dport 8080'  (one rule through the API, then apply)"
"$sdn" rule add guest:102 "in accept tcp dport 8080"
"$sdn" rule list guest:102
"$sdn" apply --yes | tail -1
ip netns exec "$node" nft list ruleset | grep "dport 8080" | sed 's/^\s*/  kernel: /'

step "someone deletes a rule with nft by hand; sdnd puts it back"
handle=$(ip netns exec "$node" nft -a list chain inet sdn cluster-in | awk '/echo-request/ && /handle/ {print $NF; exit}')
ip netns exec "$node" nft delete rule inet sdn cluster-in handle "$handle"
echo "  deleted rule handle $handle of chain cluster-in"
sleep 1
ip netns exec "$node" nft list chain inet sdn cluster-in | grep -c "echo-request" | sed 's/^/  echo-request rules in cluster-in now: /'

step "sdn status"
"$sdn" status || true

step "the event stream of this demo"
sleep 0.3
kill "$events_pid" 2>/dev/null || true
events_pid=
cat "$state/events.txt"
