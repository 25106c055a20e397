#!/usr/bin/env bash
# What a backup of a running server costs the traffic: zaqar-bench's many-queues profile against a
# fresh server (fsync always), once without a backup and once with `zaqar-server backup` taken
# halfway through, interleaved round by round. Prints throughput, the backup's duration and size,
# and how long the writers were paused (from the server's log).
#
#   bench/backup-online.sh [ROUNDS] [SECONDS]      (defaults 3 and 20; binaries from make build)
set -euo pipefail
rounds=${1:-3}
secs=${2:-20}
port=${PORT:-18895}
partitions=${PARTITIONS:-1}
here=$(cd "$(dirname "$0")/.." && pwd)
printf '%-5s %-7s %10s %11s %9s %12s %10s %6s\n' round backup post_msg/s claim_msg/s backup_s backup_bytes paused load1
for r in $(seq 1 "$rounds"); do
  for mode in none backup; do
    dir=$(mktemp -d)
    "$here/bin/zaqar-server" --config-file /dev/null --data-dir "$dir/data" --port "$port" --partitions "$partitions" \
      --fsync always 2>"$dir/server.log" &
    pid=$!
    for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/v2/ping" && break; sleep 0.1; done
    "$here/bin/zaqar-bench" -s "http://127.0.0.1:$port" --profile many-queues -t "$secs" --warmup 1 --drain=false \
      --json "$dir/bench.json" >/dev/null 2>&1 &
    bench=$!
    took=- size=- paused=-
    if [ "$mode" = backup ]; then
      sleep $((secs / 2 + 1))
      t0=$(date +%s.%N)
      "$here/bin/zaqar-server" backup --data-dir "$dir/data" --out "$dir/backup.tar.gz" 2>>"$dir/backup.log"
      took=$(echo "$(date +%s.%N) - $t0" | bc)
      size=$(stat -c %s "$dir/backup.tar.gz")
      paused=$(grep -o 'writers_paused=[^ ]*' "$dir/server.log" | tail -1 | cut -d= -f2)
    fi
    wait $bench || true
    kill -TERM $pid; wait $pid 2>/dev/null || true
    python3 - "$dir/bench.json" "$r" "$mode" "$took" "$size" "$paused" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
r, mode, took, size, paused, load = sys.argv[2:8]
ops = doc.get("operations", {})
post = ops.get("post", {}).get("messages_per_second", 0.0)
claim = ops.get("claim", {}).get("messages_per_second", 0.0)
print(f"{r:<5} {mode:<7} {post:10.0f} {claim:11.0f} {took:>9.5} {size:>12} {paused:>10} {load:>6}")
PY
    rm -rf "$dir"
  done
done
