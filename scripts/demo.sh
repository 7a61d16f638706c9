#!/usr/bin/env bash
# Sets up the machine, builds sdn and runs the demo on the embedded single-node example
# (Topologies/demo.yaml + Policies/demo.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

scripts/setup.sh
swift build --product sdn
swift build --product sdnd
sdn=.build/debug/sdn

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "sdn validate  (Topologies/ + Policies/)"
$sdn validate

step "sdn validate on a broken file: every problem at once, with file:line:column"
broken=$(mktemp -d)
trap 'rm -rf "$broken"' EXIT
mkdir -p "$broken/Policies"
cat > "$broken/Policies/broken.yaml" <<'YAML'
cluster:
  optons: { policy-in: drop }
  rules:
    - in accept tcp dport 80,99999
    - in accept SHH from 10.0.0.0/8
YAML
$sdn validate "$broken/Policies" || echo "(exit status $? — 1 means: the input has errors)"

step "sdn show --section topology  (merged, defaults resolved)"
$sdn show --section topology | sed -n 1,40p
echo "…"

step "sdn compile  (the node's nftables ruleset for this kernel, probed in a scratch namespace; loads with nft -f)"
unshare --net $sdn compile 2>/dev/null | sed -n 1,60p
echo "…"

scripts/demo-firewall.sh
scripts/demo-overlay.sh
scripts/demo-daemon.sh
scripts/demo-cluster.sh
