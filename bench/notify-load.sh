#!/usr/bin/env bash
# Post throughput with and without webhook subscribers, interleaved runs.
# The server runs on core 0; wrk, zaqar-bench and three `zaqar-bench sink`
# receivers on core 1, so deliveries compete with posts for the server's
# core only. Each run starts a fresh server and:
#   1. posts 10,000 messages (zaqar-bench, 16 workers, 10 x 1 KiB per POST),
#      then waits until every subscriber has received every message;
#   2. posts for 6 s with wrk (16 connections, post10x1k.lua): the sustained
#      rate. Deliveries still pending when it ends are not waited for.
#   bench/notify-load.sh [reps]        (default 3)
#   SERVER_FLAGS="--fsync never" bench/notify-load.sh 5
# Needs wrk and taskset; wrk scripts come from WRK_SCRIPTS.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-bin}
reps=${1:-3}
lua=${WRK_SCRIPTS:-../shared/tools/wrk}/post10x1k.lua
hdr=(-H 'Content-Type: application/json' -H 'Client-ID: 3a1d6a3e-0000-4000-8000-000000000001')
pids=()
cleanup() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_server DATA -> sets url; the server gets core 0.
start_server() {
  local port; port=$(free_port)
  taskset -c 0 "$bin/zaqar-server" --config-file /dev/null --port "$port" --data-dir "$1" ${SERVER_FLAGS:-} >"$1.log" 2>&1 &
  server=$!
  pids+=("$server")
  url="http://127.0.0.1:$port"
  for _ in $(seq 1 200); do
    curl -s -o /dev/null "${hdr[@]}" -H 'X-Project-ID: p' "$url/v2/ping" && return
    sleep 0.05
  done
  echo "server did not start" >&2; exit 1
}

# subscribe PROJECT QUEUE N: N sinks on core 1, subscribed to the queue.
subscribe() {
  curl -sf -o /dev/null -X PUT "${hdr[@]}" -H "X-Project-ID: $1" "$url/v2/queues/$2" -d '{}'
  for _ in $(seq 1 "$3"); do
    local port; port=$(free_port)
    taskset -c 1 "$bin/zaqar-bench" sink --bind "127.0.0.1:$port" >/dev/null 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port" -d '{}' && break; sleep 0.02; done
    curl -sf -o /dev/null -X POST "${hdr[@]}" -H "X-Project-ID: $1" "$url/v2/queues/$2/subscriptions" \
      -d "{\"subscriber\": \"http://127.0.0.1:$port\", \"ttl\": 3600}"
  done
}

metric() { curl -s "$url/metrics" | awk -v m="$1" 'index($0, m) == 1 {s += $NF} END {print s + 0}'; }

for rep in $(seq 1 "$reps"); do
  for subs in 0 3; do
    data=$(mktemp -d)
    start_server "$data"
    subscribe bench-0 notify-0 "$subs"
    out=$(taskset -c 1 "$bin/zaqar-bench" --server_url "$url" --project_prefix bench --queue_prefix notify \
      --pw 16 --cw 0 --ow 0 --messages 10000 --time 60 --drain=false --quiet)
    posted=$(echo "$out" | awk '$1 == "post" {print $2 * 10}')
    rate=$(echo "$out" | awk '$1 == "post" {print $3}')
    start=$(date +%s.%N)
    want=$((posted * subs))
    for _ in $(seq 1 1200); do
      [ "$(metric 'zaqar_notification_attempts_total{kind="webhook",outcome="delivered"}')" -ge "$want" ] && break
      sleep 0.05
    done
    got=$(metric 'zaqar_notification_attempts_total{kind="webhook",outcome="delivered"}')
    lag=$(echo "$(date +%s.%N) - $start" | bc)
    subscribe wrk wrk "$subs"
    sustained=$(taskset -c 1 wrk -t1 -c16 -d6s -s "$lua" "$url/v2/queues/wrk/messages" | awk '/Requests\/sec/ {print $2}')
    printf 'rep %d  subscribers %d  10k: %6s POST/s, %d deliveries of %d (all done %.2fs after the last post)  sustained: %s POST/s\n' \
      "$rep" "$subs" "$rate" "$got" "$((posted * subs))" "$lag" "$sustained"
    kill -TERM "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=()
    rm -rf "$data" "$data.log"
  done
done
