#!/usr/bin/env bash
# Checks that sdnd's HTTP API answers as its OpenAPI document (Sources/SDNServer/openapi.yaml) says:
# schemathesis generates requests for every operation from the document, sends them to a real sdnd
# (acting on a scratch network namespace, with the demo configuration pushed so reads have data) over
# TCP with an Administrator token, and checks each response: no 5xx, a status code, content type and
# body the document declares for that operation.
#
# Needs the debug build (`swift build`), root (a network namespace) and PyPI the first time (schemathesis
# is installed into .build/venv). Exit status: 0 conforming, 1 a check failed, 77 skipped (a precondition
# is missing; the reason is printed), 2 the run could not be set up.
#
# Environment: SDN_API_EXAMPLES (test cases per operation and phase, default 25), SDN_API_SEED (a
# schemathesis seed, to replay a run), SDN_API_TIMEOUT (seconds the whole schemathesis run may take, default 300),
# SDN_API_KEEP=1 (keep the scratch directory: sdnd's state and log, to look into a failure).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.build/venv
examples=${SDN_API_EXAMPLES:-25}
budget=${SDN_API_TIMEOUT:-300}
# The CLI's flags changed between majors; this script speaks 4.x.
schemathesis_requirement='schemathesis>=4.1,<5'

skip() { echo "api-conformance: skipped: $*"; exit 77; }
fail_setup() { echo "api-conformance: could not run: $*" >&2; exit 2; }

for binary in sdnd sdn; do
  [[ -x .build/debug/$binary ]] || fail_setup ".build/debug/$binary is missing; run 'swift build' first"
done
[[ $(id -u) -eq 0 ]] || skip "needs root to create a network namespace for sdnd"
command -v ip >/dev/null || skip "iproute2's 'ip' is missing (scripts/setup.sh installs it)"

# schemathesis in a venv of its own; reinstalled only when missing or of another major version.
if ! "$venv/bin/python" -c 'import schemathesis, sys; sys.exit(0 if schemathesis.__version__.startswith("4.") else 1)' 2>/dev/null; then
  python3 -m venv "$venv" >/dev/null 2>&1 \
    || skip "python3 -m venv failed (on Debian install python3-venv; scripts/setup.sh does)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --timeout 30 "$schemathesis_requirement" >"$venv.log" 2>&1 \
    || skip "could not install $schemathesis_requirement from PyPI (no network?): $(tail -1 "$venv.log")"
fi

namespace="sdntest-$$-api"
scratch=$(mktemp -d /tmp/sdnd-api-XXXXXX)
daemon_pid=
cleanup() {
  if [[ -n $daemon_pid ]]; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$daemon_pid" 2>/dev/null || true
  fi
  ip netns delete "$namespace" 2>/dev/null || true
  if [[ -n ${SDN_API_KEEP:-} ]]; then echo "api-conformance: kept $scratch (sdnd's state, log and the schemathesis output)" >&2
  else rm -rf "$scratch"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The demo topology's node has the uplink eth0: give the namespace one so applies can converge.
ip netns add "$namespace" || fail_setup "could not create the network namespace $namespace"
ip -n "$namespace" link set lo up
ip -n "$namespace" link add eth0 type veth peer name eth0peer

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
socket_path=$scratch/sdnd.sock
export SDN_SERVER=unix://$socket_path
.build/debug/sdnd --netns "$namespace" --state-dir "$scratch/state" \
  --listen "unix://$socket_path" --listen "http://127.0.0.1:$port" >"$scratch/sdnd.log" 2>&1 &
daemon_pid=$!

# `sdn status` answers 0 (in sync) or 3 (pending changes) once the daemon serves.
for attempt in $(seq 300); do
  kill -0 "$daemon_pid" 2>/dev/null || fail_setup "sdnd exited: $(tail -5 "$scratch/sdnd.log")"
  status=0; .build/debug/sdn status >/dev/null 2>&1 || status=$?
  if ((status == 0 || status == 3)); then break; fi
  ((attempt < 300)) || fail_setup "sdnd did not answer within 30 s: $(tail -5 "$scratch/sdnd.log")"
  sleep 0.1
done

.build/debug/sdn push Topologies Policies --message "api-conformance: the demo configuration" >/dev/null \
  || fail_setup "sdn push of the demo configuration failed"
secret=$(.build/debug/sdn token create --role Administrator --comment api-conformance --output json \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])') || fail_setup "sdn token create failed"

# The event stream never ends, so no response to check would arrive: it is left out.
common=(
  "http://127.0.0.1:$port/openapi.yaml" --url "http://127.0.0.1:$port"
  --header "Authorization: Bearer $secret"
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
  --exclude-path /v1/events
  --max-examples "$examples"
  --phases examples,coverage,fuzzing,stateful
  --request-timeout 30
  --workers 1
  --generation-database none
  --suppress-health-check all
  --no-color
)
if [[ -n ${SDN_API_SEED:-} ]]; then common+=(--seed "$SDN_API_SEED"); fi
# Revoking tokens runs last, on its own: the stateful phase follows GET /v1/tokens to DELETE
# /v1/tokens/{id} and so revokes the run's own token, after which every request would be a 401.
passes=("--exclude-operation-id revokeToken" "--include-operation-id revokeToken")

started=$SECONDS
: >"$scratch/schemathesis.log"
failed=0 timed_out=0 outcomes=()
for pass in "${passes[@]}"; do
  read -ra selection <<<"$pass"
  status=0
  timeout --kill-after 10 $((budget - (SECONDS - started))) "$venv/bin/st" run "${common[@]}" "${selection[@]}" \
    >"$scratch/pass.log" 2>&1 || status=$?
  cat "$scratch/pass.log" >>"$scratch/schemathesis.log"
  # schemathesis ends with a line like "=== 25 passed, 2 failed in 40.1s ===".
  outcomes+=("$(grep -E '^=+ .* in [0-9.]+s =+$' "$scratch/pass.log" | tail -1 | sed -E 's/^=+ (.*) =+$/\1/' || true)")
  if ((status == 124 || status == 137)); then timed_out=1; failed=1; break; fi
  if ((status != 0)); then failed=1; fi
  kill -0 "$daemon_pid" 2>/dev/null || break
done
elapsed=$((SECONDS - started))
outcome=$(IFS=';'; echo "${outcomes[*]}" | sed 's/;/; then /g')

cat "$scratch/schemathesis.log"
if ! kill -0 "$daemon_pid" 2>/dev/null; then
  # A crash report starts at its "💣 Program crashed" line; the frames after it name the file and line.
  echo "--- sdnd's log (it exited during the run):"
  grep -v '^\(r[a-z0-9]* \|rip\|rflags\|cs \)' "$scratch/sdnd.log" | grep -B5 -A40 -m1 -E 'Fatal error|crashed|Crash' || tail -40 "$scratch/sdnd.log"
  cp "$scratch/sdnd.log" .build/api-conformance-sdnd.log && echo "(the whole log: .build/api-conformance-sdnd.log)"
  echo "api-conformance: FAILED: sdnd exited during the run (${elapsed}s)"
  exit 1
fi
if ((timed_out)); then
  echo "api-conformance: FAILED: schemathesis did not finish within ${budget}s"
  exit 1
elif ((failed)); then
  echo "api-conformance: FAILED: ${outcome:-schemathesis failed} (sdnd on 127.0.0.1:$port, ${examples} examples per operation)"
  exit 1
fi
echo "api-conformance: passed: ${outcome:-every check} (${examples} examples per operation, ${elapsed}s)"
