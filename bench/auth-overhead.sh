#!/usr/bin/env bash
# What Keystone authentication costs a producer: two servers built from the same binary, one with
# auth_strategy = keystone (a throw-away Keystone from scripts/keystone-dev.sh; the token is
# validated once, then served from the cache) and one without, loaded in turn by zaqar-bench
# (POST 10 x 1 KiB), runs interleaved so both see the same machine.
#
#   bench/auth-overhead.sh                # 6 pairs of 10 s runs, 8 producers, fsync never
#   RUNS=10 SECONDS_PER_RUN=6 PRODUCERS=16 FSYNC=always bench/auth-overhead.sh
#   PIN=1 bench/auth-overhead.sh            # server on CPU 0, zaqar-bench on CPU 1 (taskset)
#   SAME_HEADERS=1 bench/auth-overhead.sh   # the noauth server gets the token header too (ignored):
#                                           # separates sending the header from checking it
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-6}
secs=${SECONDS_PER_RUN:-10}
producers=${PRODUCERS:-8}
fsync=${FSYNC:-never}
bin=${BIN:-bin}
pin_server=() pin_bench=()
[ -n "${PIN:-}" ] && pin_server=(taskset -c 0) pin_bench=(taskset -c 1)
work=$(mktemp -d)
ks_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/keystone-dev.sh stop "$work/keystone"
  rm -rf "$work"
}
trap cleanup EXIT

scripts/keystone-dev.sh start "$work/keystone" "$ks_port" | sed -n '/^\[DEFAULT\]/,/^project_domain_name/p' > "$work/keystone.conf"
token=$(curl -fsi -H 'Content-Type: application/json' \
  -d '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"demo","domain":{"id":"default"},"password":"demo"}}},"scope":{"project":{"name":"demo","domain":{"id":"default"}}}}}' \
  "http://127.0.0.1:$ks_port/v3/auth/tokens" | tr -d '\r' | awk 'tolower($1)=="x-subject-token:" {print $2}')

# run NAME CONF [headers...]: a fresh server (empty data directory, so runs do not inherit each
# other's backlog), one zaqar-bench run after a 1 s warm-up (the token cache is warm), then stop;
# prints "NAME req/s p50 p99 cpu-us/post". The server's CPU time per post (from /proc, over every
# post it served, warm-up included) varies far less between runs than throughput does on a shared
# 2-core machine, so it shows small differences that req/s cannot.
run() {
  local name=$1 conf=$2 port pid
  shift 2
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -rf "$work/data"
  "${pin_server[@]}" "$bin/zaqar-server" --config-file "$conf" --port "$port" --data-dir "$work/data" --fsync "$fsync" >"$work/$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
  if ! "${pin_bench[@]}" "$bin/zaqar-bench" -s "http://127.0.0.1:$port" -pw "$producers" -cw 0 -ow 0 -t "$secs" -warmup 1 -drain=false \
    -json "$work/r.json" "$@" >"$work/bench.out" 2>&1; then
    echo "zaqar-bench failed against the $name server:" >&2; tail -5 "$work/bench.out" "$work/$name.log" >&2; exit 1
  fi
  local ticks posts
  ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  posts=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^zaqar_http_requests_total\{route="message_post",status="201"\}/ {print $2}')
  kill -TERM "$pid" 2>/dev/null || { echo "the $name server had stopped:" >&2; tail -5 "$work/$name.log" >&2; exit 1; }
  wait "$pid" 2>/dev/null || true
  python3 -c "import json; o=json.load(open('$work/r.json'))['operations']['post']; l=o['latency']
assert not o['errors'], o['errors']
print('%-8s %8.0f %6.2f %6.2f %8.1f' % ('$name', o['requests_per_second'], l['p50_ms'], l['p99_ms'],
  $ticks * 1e6 / $(getconf CLK_TCK) / float('$posts')))"
}
: > "$work/noauth.conf"

noauth_headers=()
[ -n "${SAME_HEADERS:-}" ] && noauth_headers=(-H "X-Auth-Token: $token")
echo "auth overhead: $runs interleaved pairs, ${secs}s each, $producers producers, fsync $fsync${SAME_HEADERS:+, token sent to both}"
echo "mode        req/s  p50ms  p99ms  cpu-us/post"
for i in $(seq "$runs"); do
  if [ $((i % 2)) = 1 ]; then
    run noauth "$work/noauth.conf" "${noauth_headers[@]}"; run keystone "$work/keystone.conf" -H "X-Auth-Token: $token"
  else
    run keystone "$work/keystone.conf" -H "X-Auth-Token: $token"; run noauth "$work/noauth.conf" "${noauth_headers[@]}"
  fi
done | tee "$work/results"
python3 - "$work/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
# Runs come in adjacent pairs (noauth/keystone, then keystone/noauth): the median of the pairs'
# ratios is less sensitive than a ratio of medians to the machine's slow spells, which last longer
# than one run but hit pairs at random.
pairs = [{r[0]: r for r in rows[i:i + 2]} for i in range(0, len(rows) - 1, 2)]
for col, what, fmt in ((1, "req/s", "%.0f"), (4, "server CPU us per post", "%.1f")):
    med = {m: statistics.median(float(r[col]) for r in rows if r[0] == m) for m in ("noauth", "keystone")}
    ratio = statistics.median(float(p["keystone"][col]) / float(p["noauth"][col]) for p in pairs)
    print(("%s: medians noauth " + fmt + ", keystone " + fmt + "; median of paired ratios %+.1f %%")
          % (what, med["noauth"], med["keystone"], 100 * (ratio - 1)))
PY
