#!/usr/bin/env bash
# Server CPU per request and per message, for every message path, against a
# bare fasthttp server (bench/bareserver) under the same wrk load: the CPU
# time (utime + stime from /proc/PID/stat) a server spends over a wrk run,
# divided by the requests (and messages) it answered. Every server starts on
# a fresh temporary data directory; servers are measured in turn, RUNS times,
# interleaved, so all see the same machine.
#
#   bench/cpu-per-request.sh                                 # bin/zaqar-server vs bare
#   SERVERS="old=/tmp/zaqar-old new=bin/zaqar-server" RUNS=5 bench/cpu-per-request.sh
#   WORKLOADS="post bulk" DUR=6s CONNS=16 FSYNC=always bench/cpu-per-request.sh
#
# Workloads, in this order on one server (each consumer workload first tops
# the queue up to BACKLOG free messages with unmeasured posts):
#   post          POST 10 x 1 KiB
#   claim         POST .../claims?limit=10 (messages stay claimed)
#   bulk          claim 10 + DELETE ?ids=..&claim_ids=..  (one cycle = 2 requests)
#   bulk-noclaim  claim 10 + DELETE ?ids=..
#   single        claim 10 + 10 x DELETE .../messages/ID?claim_id=..
#   pop           DELETE ?pop=10 (on a backlog of 5 x BACKLOG)
#   mixed         CONNS/2 posting (as post) while CONNS consume (as bulk, with
#                 ?wait=1) one queue that starts empty; per consumed message
#                 (not run unless named in WORKLOADS)
# After each wrk run the script waits until the server is idle (deferred
# work such as Badger flushes is counted with the run that caused it).
# Output: one line per server, workload and run, then medians:
#   server workload run req/s cpu-us/req cpu-us/msg
# "!" after a line: claims or pops found an empty queue (raise BACKLOG).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
dur=${DUR:-6s}
conns=${CONNS:-16}
fsync=${FSYNC:-always}
backlog=${BACKLOG:-200000}
workloads=${WORKLOADS:-post claim bulk bulk-noclaim single pop}
servers=${SERVERS:-zaqar=bin/zaqar-server}
hz=$(getconf CLK_TCK)
work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/bareserver" ./bench/bareserver
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# settle: wait until the server used no CPU for 300 ms (at most 5 s).
settle() {
  local prev cur
  prev=$(ticks "$pid")
  for _ in $(seq 16); do
    sleep 0.3
    cur=$(ticks "$pid")
    [ "$cur" = "$prev" ] && return
    prev=$cur
  done
}

free_messages() {
  curl -s -H 'Client-ID: 3a1d6a3e-0000-4000-8000-000000000001' -H 'X-Project-ID: wrk' \
    "http://127.0.0.1:$port/v2/queues/cpu/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"]["free"])'
}

# topup TARGET: post until TARGET messages are free.
topup() {
  local n target=$1
  for _ in $(seq 40); do
    n=$(free_messages)
    [ "$n" -ge "$target" ] && return
    wrk -t1 -c"$conns" -d2s -s bench/wrk/post10x1k.lua "http://127.0.0.1:$port/v2/queues/cpu" >/dev/null
  done
  settle
}

# measure NAME WORKLOAD RUN: one wrk run, one result line.
measure() {
  local name=$1 wl=$2 run=$3 script=bench/wrk/consume.lua t0 t1 out
  [ "$wl" = post ] && script=bench/wrk/post10x1k.lua
  # Pops drain ~5x faster than claims: their backlog is 5x larger.
  local target=$backlog
  [ "$wl" = pop ] && target=$((backlog * 5))
  [ "$wl" != post ] && [ "$wl" != mixed ] && [ "$name" != bare ] && topup "$target"
  settle
  t0=$(ticks "$pid")
  if [ "$wl" = mixed ]; then
    # conns/2 posting and conns consuming (long-poll claims) one queue
    # that starts empty; the line counts the consumers' requests and
    # messages, the CPU is the whole server's.
    wrk -t1 -c$((conns / 2)) -d"$dur" -s bench/wrk/post10x1k.lua "http://127.0.0.1:$port/v2/queues/mixed$run" >/dev/null &
    local producers=$!
    out=$(MODE=bulk WAIT=1 wrk -t1 -c"$conns" -d"$dur" --latency -s "$script" "http://127.0.0.1:$port/v2/queues/mixed$run")
    wait "$producers"
  else
    out=$(MODE=$wl wrk -t1 -c"$conns" -d"$dur" --latency -s "$script" "http://127.0.0.1:$port/v2/queues/cpu")
  fi
  settle
  t1=$(ticks "$pid")
  python3 - "$name" "$wl" "$run" "$t0" "$t1" "$hz" <<PY
import re, sys
name, wl, run, t0, t1, hz = sys.argv[1:]
out = """$out"""
c = dict(re.findall(r"(\w+)=(\d+)", out.split("counts", 1)[1]))
secs = float(re.search(r"requests in ([\d.]+)(m?s)", out).group(1))
secs = secs / 1000 if re.search(r"requests in [\d.]+ms", out) else secs
req, msgs, empty = int(c["requests"]), int(c["messages"]), int(c["empty"])
if int(c.get("failed", 0)):
    sys.exit("%s %s: %s requests failed" % (name, wl, c["failed"]))
cpu = (int(t1) - int(t0)) / int(hz) * 1e6
m = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", out)
p99 = float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)]
print("%-8s %-12s %3s %9.0f %10.1f %10.2f %8.2f%s" % (name, wl, run, req / secs, cpu / max(req, 1),
      cpu / max(msgs, 1), p99, " !" if empty else ""))
PY
}

# serve NAME BINARY: start a server on a fresh data directory, set pid and port.
serve() {
  local name=$1 bin=$2
  port=$(free_port)
  rm -rf "$work/data"
  if [ "$name" = bare ]; then
    "$work/bareserver" -addr "127.0.0.1:$port" >"$work/$name.log" 2>&1 &
  else
    "$bin" --config-file /dev/null --port "$port" --data-dir "$work/data" --fsync "$fsync" >"$work/$name.log" 2>&1 &
  fi
  pid=$!
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$port/" && return; sleep 0.05; done
  echo "$name did not start:" >&2; tail -5 "$work/$name.log" >&2; exit 1
}

echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg); wrk -t1 -c$conns -d$dur; fsync $fsync; $runs runs"
echo "# server   workload     run     req/s cpu-us/req cpu-us/msg  p99-ms"
# Builds run in turn, and in reverse order every other run: a server
# started just after another one finds the disk still busy with what the
# first left (writeback, freeing its files), which measured several
# percent slower. Each server's data directory is removed and synced away
# before the next starts.
reversed=$(printf '%s\n' $servers | tac | tr '\n' ' ')
for run in $(seq "$runs"); do
  order=$servers
  [ $((run % 2)) = 0 ] && order=$reversed
  for s in bare=- $order; do
    name=${s%%=*} bin=${s#*=}
    serve "$name" "$bin"
    for wl in $workloads; do measure "$name" "$wl" "$run"; done
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=
    rm -rf "$work/data"
    sync
  done
done | tee "$work/results"
echo "# medians"
python3 - "$work/results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if line.startswith("#"):
        continue
    f = line.split()
    rows.setdefault((f[0], f[1]), []).append((float(f[3]), float(f[4]), float(f[5]), float(f[6])))
bare = {wl: statistics.median(r[1] for r in v) for (n, wl), v in rows.items() if n == "bare"}
for (n, wl), v in rows.items():
    us = statistics.median(r[1] for r in v)
    ratio = us / bare[wl] if wl in bare and bare[wl] else float("nan")
    print("%-8s %-12s     %9.0f %10.1f %10.2f %8.2f   x%.1f bare" % (n, wl, statistics.median(r[0] for r in v),
          us, statistics.median(r[2] for r in v), statistics.median(r[3] for r in v), ratio))
PY
