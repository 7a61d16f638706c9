#!/usr/bin/env bash
# The cluster's benchmarks (issue 12), figures for BENCHMARKS.md "Cluster (etcd)". Needs Debian's etcd-server
# (etcd, etcdctl) and the release build: swift build -c release --product sdn-bench. No root needed.
#
# Starts a private 3-member etcd cluster on loopback ports (MEMBERS=1 for one member) in a temporary
# directory, with --max-txn-ops raised to MAX_TXN_OPS (see below), then for each run of RUNS:
#   sdn-bench cluster      N simulated nodes (own EtcdStateStore each: liveness lease, watch, read + compile
#                          the revision for their node, report the applied generation, installed ports once);
#                          M rule changes, each timed from setTarget returning until all N applied it
#   sdn-bench cluster-raw  the same loop on bare keys (put → N watchers each put an acknowledgement) through
#                          the same EtcdClient: etcd and its JSON gateway alone, the reference
# and prints the CPU the etcd members and the benchmark used. Everything it started is stopped and its
# directory removed on exit (trap).
#
# Environment: RUNS (default "3:compile:100 3:compile:100::split 3:read:100 50:read:100 50:compile:3":
# AGENTS:WORK:CHANGES[:target][:split] each; WORK is compile, validate or read, what each agent does with a
# revision; `target` makes the agents watch only the target key instead of the store's changes(), which watch
# every key but the documents; `split` writes a policy file per guest, as the Proxmox importer does, instead of
# one policy file), PARSE_CACHE (default 1; 0: agents parse every revision whole instead of keeping the last
# revision's parsed documents as sdnd does), MEMBERS (default 3), GUESTS (default
# 1000), IPSET_SIZE (default 1000), MAX_TXN_OPS (default 128, etcd's own: the store writes a node's installed
# ports in transactions of at most 128 operations), BASE_PORT (default 23790: the members
# use BASE_PORT … BASE_PORT+2×MEMBERS-1).
#
# On 2 vCPUs, 50 agents that each compile a 1,000-guest revision take ~25 s per change (50 compiles), so
# the default runs 3 such changes; "read" agents do everything else and show the fan-out through etcd alone.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=.build/release
[[ -x $bin/sdn-bench ]] || { echo "bench-cluster: $bin/sdn-bench missing: swift build -c release --product sdn-bench" >&2; exit 2; }
command -v etcd >/dev/null && command -v etcdctl >/dev/null || { echo "bench-cluster: etcd and etcdctl missing (apt-get install etcd-server etcd-client)" >&2; exit 2; }

members=${MEMBERS:-3}
runs=${RUNS:-3:compile:100 3:compile:100::split 3:read:100 50:read:100 50:compile:3}
parse_cache_flag=()
[[ ${PARSE_CACHE:-1} == 0 ]] && parse_cache_flag=(--no-parse-cache)
guests=${GUESTS:-1000}
ipset_size=${IPSET_SIZE:-1000}
max_txn_ops=${MAX_TXN_OPS:-128}
base_port=${BASE_PORT:-23790}

work=$(mktemp -d /tmp/sdn-bench-cluster.XXXXXX)
etcd_pids=()

cleanup() {
  for pid in "${etcd_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${etcd_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

section() { printf '\n== %s\n' "$*"; }

client_urls=()
initial_cluster=()
for member in $(seq 1 "$members"); do
  client_urls+=("http://127.0.0.1:$((base_port + 2 * (member - 1)))")
  initial_cluster+=("m$member=http://127.0.0.1:$((base_port + 2 * (member - 1) + 1))")
done
endpoints=$(IFS=,; echo "${client_urls[*]}")
cluster=$(IFS=,; echo "${initial_cluster[*]}")

for member in $(seq 1 "$members"); do
  client=${client_urls[$((member - 1))]}
  peer=http://127.0.0.1:$((base_port + 2 * (member - 1) + 1))
  etcd --name "m$member" --data-dir "$work/m$member" \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "sdn-bench-$$" \
    --max-txn-ops "$max_txn_ops" \
    --logger zap --log-outputs stderr --log-level warn >"$work/m$member.log" 2>&1 &
  etcd_pids+=($!)
done
for _ in $(seq 300); do
  if ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint health >/dev/null 2>&1; then break; fi
  for pid in "${etcd_pids[@]}"; do kill -0 "$pid" 2>/dev/null || { tail -20 "$work"/m*.log; exit 1; }; done
  sleep 0.1
done
ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint health >/dev/null || { echo "etcd did not become healthy" >&2; tail -20 "$work"/m*.log; exit 1; }

section "machine"
echo "nproc $(nproc); kernel $(uname -r); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
free -m | sed -n 1,2p
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(etcd --version | head -1); $members member(s) on loopback: $endpoints; --max-txn-ops $max_txn_ops"
ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint status -w table

# CPU seconds (user + system) of the etcd members so far.
etcd_cpu() {
  local ticks=0
  for pid in "${etcd_pids[@]}"; do
    read -r -a fields < <(sed 's/^.*) //' "/proc/$pid/stat")
    ticks=$((ticks + fields[11] + fields[12]))
  done
  echo "$ticks"
}

# run LABEL ARGS…: the benchmark, with the CPU it and the etcd members used.
run() {
  local label=$1; shift
  section "$label"
  local before after started ended
  before=$(etcd_cpu)
  started=$(date +%s.%N)
  TIMEFORMAT="sdn-bench process: %R s wall, %U s user + %S s system CPU"
  time $bin/sdn-bench "$@"
  ended=$(date +%s.%N)
  after=$(etcd_cpu)
  awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" -v wall="$(echo "$ended - $started" | bc)" -v members="$members" \
    'BEGIN { printf "etcd members: %.1f s CPU in total over %.1f s (%.0f %% of one core, %d members)\n", ticks / hz, wall, 100 * ticks / hz / wall, members }'
}

raw_done=" "
for spec in $runs; do
  IFS=: read -r agents work_mode changes watch layout <<<"$spec"
  run "cluster: $agents agents, $changes changes, $guests guests ($work_mode${watch:+, watch $watch}, ${layout:-single} layout${parse_cache_flag[*]:+, no parse cache})" \
    cluster --etcd "$endpoints" --agents "$agents" --changes "$changes" --guests "$guests" --ipset-size "$ipset_size" --work "$work_mode" \
    --watch "${watch:-prefix}" --layout "${layout:-single}" "${parse_cache_flag[@]}"
  if [[ $raw_done != *" $agents "* ]]; then
    run "reference: bare etcd keys, $agents watchers, 100 puts" cluster-raw --etcd "$endpoints" --agents "$agents" --changes 100
    raw_done+="$agents "
  fi
done

section "etcd after the runs"
ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint status -w table
