#!/usr/bin/env bash
# The daemon's benchmarks (issue 10), figures for BENCHMARKS.md "Daemon (sdnd)". Needs root, the release
# builds (swift build -c release --product sdnd && … --product sdn && … --product sdn-bench) and wrk.
#
# Three phases, each with a fresh release sdnd, state directory and network namespace (sdnbench-daemon-PID-*):
#   demo   the repository's demo config: API latency (Swift open-loop client + wrk), tap attach
#   100    100 synthetic guests: one rule changed through the API → in the kernel
#   1000   1,000 synthetic guests: RSS idle and applied, API latency, wrk, tap attach, rule change
# Everything it creates is removed on exit (trap). Bounded: about 9 minutes on 2 vCPUs (the 1,000-guest phase is 6 of them).
#
# Environment: SECONDS_PER_RUN (api-latency, default 10), RATE (default 1000), PORT (loopback TCP, default 18443),
# RULE_CHANGES_100 / RULE_CHANGES_1000 (default 20 / 6: one 1,000-guest change takes ~20 s), TAPS / TAPS_1000 (default 50 / 10), WRK_SECONDS (default 5),
# PHASES (default "demo 100 1000").
set -euo pipefail
cd "$(dirname "$0")/.."

bin=.build/release
for product in sdnd sdn sdn-bench; do
  [[ -x $bin/$product ]] || { echo "bench-daemon: $bin/$product missing: swift build -c release --product $product" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "bench-daemon: wrk missing (scripts/setup.sh installs it)" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "bench-daemon: needs root (network namespaces, nftables)" >&2; exit 2; }

seconds_per_run=${SECONDS_PER_RUN:-10}
rate=${RATE:-1000}
port=${PORT:-18443}
rule_changes_100=${RULE_CHANGES_100:-20}
rule_changes_1000=${RULE_CHANGES_1000:-6}
taps=${TAPS:-50}
taps_1000=${TAPS_1000:-10}
phases=" ${PHASES:-demo 100 1000} "
wrk_seconds=${WRK_SECONDS:-5}

work=$(mktemp -d /tmp/sdnd-bench.XXXXXX)
prefix=sdnbench-daemon-$$
daemon_pid=
namespaces=()

cleanup() {
  if [[ -n $daemon_pid ]]; then kill -TERM "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  for namespace in "${namespaces[@]}"; do ip netns del "$namespace" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

section() { printf '\n== %s\n' "$*"; }

# A namespace like a node's: lo up, an uplink eth0 (a veth: this kernel has no dummy module).
make_namespace() {
  namespace=$prefix-$1
  ip netns add "$namespace"
  namespaces+=("$namespace")
  ip -n "$namespace" link set lo up
  ip -n "$namespace" link add eth0 type veth peer name eth0peer
}

# start_daemon PHASE NAMESPACE: a release sdnd on a Unix socket and the loopback TCP port.
start_daemon() {
  local phase=$1 namespace=$2
  socket=$work/$phase.sock
  export SDN_SERVER=unix://$socket
  $bin/sdnd --state-dir "$work/$phase-state" --listen "unix://$socket" --listen "http://127.0.0.1:$port" \
    --netns "$namespace" --resync 3600 --log-level warning >"$work/$phase.log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 300); do
    local status=0
    $bin/sdn status >/dev/null 2>&1 || status=$?
    if [[ $status -eq 0 || $status -eq 3 ]]; then return; fi
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/$phase.log"; exit 1; }
    sleep 0.05
  done
  echo "sdnd did not answer within 15 s" >&2; cat "$work/$phase.log"; exit 1
}

stop_daemon() {
  kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=
}

rss() { echo "RSS of sdnd ($1): $(grep -E '^(VmRSS|VmHWM)' /proc/$daemon_pid/status | tr -s ' \t' ' ' | paste -sd ' ')"; }

token() { $bin/sdn token create --role Administrator --comment bench | sed -n 's/^secret: //p'; }

# push_and_apply DIR MESSAGE: from DIR (paths are sent relative to where sdn runs), timed.
push_and_apply() {
  local start end
  local root=$PWD
  start=$(date +%s%N)
  (cd "$1" && "$root/$bin/sdn" push Topologies Policies -m "$2" >/dev/null)
  end=$(date +%s%N)
  $bin/sdn apply --yes >/dev/null
  echo "push ($2): $(((end - start) / 1000000)) ms, apply: $((($(date +%s%N) - end) / 1000000)) ms (sdn CLI wall time)"
}

api_latency() {  # ROUTE TOKEN
  $bin/sdn-bench api-latency --url "http://127.0.0.1:$port" --token "$2" --rate "$rate" --seconds "$seconds_per_run" --path "$1"
}

wrk_reference() {  # ROUTE TOKEN: closed-loop throughput, 2 threads × 8 connections
  echo "wrk -t2 -c8 -d${wrk_seconds}s --latency GET $1:"
  wrk -t2 -c8 -d"${wrk_seconds}s" --latency -H "Authorization: Bearer $2" "http://127.0.0.1:$port$1" \
    | grep -E 'Requests/sec|Transfer/sec|^ +(50|90|99)%|Latency|Non-2xx|Socket errors' | sed 's/^/  /'
}

section "machine"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- demo config
if [[ $phases == *" demo "* ]]; then
section "demo config (Topologies/demo.yaml, Policies/demo.yaml)"
make_namespace demo
start_daemon demo "$namespace"
sleep 2
rss "idle, no configuration"
secret=$(token)
push_and_apply . demo
rss "demo applied"
for route in /v1/status /v1/config /v1/objects/guests; do api_latency "$route" "$secret"; done
$bin/sdn-bench api-latency --socket "$socket" --rate "$rate" --seconds "$seconds_per_run" --path /v1/status
$bin/sdn-bench api-latency --url "http://127.0.0.1:$port" --token "$secret" --rate "$rate" --seconds "$seconds_per_run" --path /v1/status --per-request
for route in /v1/status /v1/config /v1/objects/guests; do wrk_reference "$route" "$secret"; done
$bin/sdn-bench tap-attach --netns "$namespace" --tap tap101i0 --iterations="$taps"
$bin/sdn-bench rule-change --socket "$socket" --netns "$namespace" --policy guest:101 --iterations="$rule_changes_100"
rss "demo, after the runs"
stop_daemon
fi

# ---------------------------------------------------------------- 100 guests
if [[ $phases == *" 100 "* ]]; then
section "100 synthetic guests"
$bin/sdn-bench gen-config --guests=100 --out "$work/config-100"
make_namespace g100
start_daemon g100 "$namespace"
push_and_apply "$work/config-100" "100 guests"
$bin/sdn-bench rule-change --socket "$socket" --netns "$namespace" --policy guest:101 --iterations="$rule_changes_100"
stop_daemon
fi

# ---------------------------------------------------------------- 1,000 guests
if [[ $phases == *" 1000 "* ]]; then
section "1,000 synthetic guests"
$bin/sdn-bench gen-config --guests=1000 --out "$work/config-1000"
ls -l "$work"/config-1000/*/sdn.yaml | awk '{print "  " $5 " bytes " $9}'
make_namespace g1000
start_daemon g1000 "$namespace"
sleep 2
rss "idle, no configuration"
secret=$(token)
push_and_apply "$work/config-1000" "1000 guests"
sleep 1
rss "1,000 guests applied"
# Kernel-facing runs first: a route the daemon cannot serve at this rate leaves it busy for a while.
$bin/sdn-bench tap-attach --netns "$namespace" --tap tap101i0 --iterations="$taps_1000"
$bin/sdn-bench rule-change --socket "$socket" --netns "$namespace" --policy guest:101 --iterations="$rule_changes_1000"
rss "1,000 guests, after the rule changes"
for route in /v1/status /v1/config /v1/objects/guests; do api_latency "$route" "$secret"; done
for route in /v1/status /v1/config /v1/objects/guests; do wrk_reference "$route" "$secret"; done
rss "1,000 guests, after the API load"
stop_daemon
fi
section "done"
