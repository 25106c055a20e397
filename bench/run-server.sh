#!/usr/bin/env bash
# Start zaqar-server on a free loopback port with a throw-away data
# directory, run zaqar-bench against it (default profile unless arguments
# say otherwise), print the table, and stop the server.
#   bench/run-server.sh [zaqar-bench flags...]
#   SERVER_FLAGS="--fsync never" bench/run-server.sh --profile task-distribution
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-bin}
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin/zaqar-server" --config-file /dev/null --port "$port" --data-dir "$data" ${SERVER_FLAGS:-} >"$data.log" 2>&1 &
pid=$!
cleanup() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data" "$data.log"; }
trap cleanup EXIT
for _ in $(seq 1 200); do
  if curl -s -o /dev/null -w '%{http_code}' -H 'Client-ID: 3a1d6a3e-0000-4000-8000-000000000001' \
       -H 'X-Project-ID: bench' "http://127.0.0.1:$port/v2/ping" 2>/dev/null | grep -q 204; then
    break
  fi
  sleep 0.05
done
if [ $# -eq 0 ]; then set -- --profile default; fi
"$bin/zaqar-bench" --server_url "http://127.0.0.1:$port" "$@"
