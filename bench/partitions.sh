#!/usr/bin/env bash
# Throughput and server CPU per message with 1, 2, 4 and 8 partitions over many queues: a fresh
# server (fsync always) per run, partition counts interleaved round by round, zaqar-bench's
# many-queues profile (10 projects x 50 queues, 8 producers, 8 consumers).
#
#   bench/partitions.sh [ROUNDS] [SECONDS]      (defaults 3 and 10; binaries from make build)
set -euo pipefail
rounds=${1:-3}
secs=${2:-10}
counts=${COUNTS:-"1 2 4 8"}
port=${PORT:-18890}
here=$(cd "$(dirname "$0")/.." && pwd)
tick=$(getconf CLK_TCK)
printf '%-5s %-10s %10s %10s %12s %8s\n' round partitions post_msg/s claim_msg/s cpu_us/msg load1
for r in $(seq 1 "$rounds"); do
  for p in $counts; do
    dir=$(mktemp -d)
    "$here/bin/zaqar-server" --config-file /dev/null --data-dir "$dir" --port "$port" --partitions "$p" --fsync always 2>"$dir.log" &
    pid=$!
    for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/v2/ping" && break; sleep 0.1; done
    before=$(awk '{print $14+$15}' /proc/$pid/stat)
    "$here/bin/zaqar-bench" -s "http://127.0.0.1:$port" --profile many-queues -t "$secs" --warmup 1 --drain=false --json "$dir.json" >/dev/null 2>&1 || true
    after=$(awk '{print $14+$15}' /proc/$pid/stat)
    kill -TERM $pid; wait $pid 2>/dev/null || true
    python3 - "$dir.json" "$r" "$p" "$((after-before))" "$tick" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
r, p, ticks, tick, load = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
ops = doc.get("operations", {})
post = ops.get("post", {}).get("messages_per_second", 0.0)
claim = ops.get("claim", {}).get("messages_per_second", 0.0)
# CPU over the warm-up and the timed phase, per message posted or claimed in the timed phase.
msgs = (post + claim) * doc.get("seconds", 1) or 1
print(f"{r:<5} {p:<10} {post:10.0f} {claim:10.0f} {ticks / tick * 1e6 / msgs:12.1f} {load:>8}")
PY
    rm -rf "$dir" "$dir.json" "$dir.log"
  done
done
