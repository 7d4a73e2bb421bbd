#!/usr/bin/env bash
# What one proxied request costs the gateway in counts rather than time: a deterministic
# companion to scripts/bench-proxy.sh, whose req/s move with the machine's load. For each
# build given, while wrk sends requests through it to an nginx origin:
# - heap allocations: calls to libc's malloc (a perf uprobe; root and perf are needed),
#   50 keep-alive connections;
# - system calls by name (strace -c), one connection, serial.
#
#   scripts/per-request.sh                       # the release build here
#   scripts/per-request.sh /tmp/gh-a /tmp/gh-b   # builds side by side
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v perf >/dev/null || need+=(linux-perf)
command -v strace >/dev/null || need+=(strace)
. scripts/lib/packages.sh
install_packages "${need[@]}"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
builds=("$@")
if ((${#builds[@]} == 0)); then
  cargo build --release --locked -q
  builds=("$PWD/target/release/gatehouse")
fi

LIBC=$(ldd "${builds[0]}" | awk '/libc\.so/{print $3}')
perf probe -q -x "$LIBC" malloc 2>/dev/null || true   # already there from an earlier run is fine
EVENT=$(perf probe -l 2>/dev/null | awk '/:malloc/{print $1; exit}')
[ -n "$EVENT" ] || { echo "cannot place a uprobe on $LIBC malloc (root and perf are needed)" >&2; exit 1; }

. scripts/lib/bench.sh
bench_workdir gatehouse-allocs
start_origin

for build in "${builds[@]}"; do
  port=$(free_port)
  proxy_instance "$WORK/gh" "$port"
  RUST_LOG=warn taskset -c 1 "$build" start "$WORK/gh" > "$WORK/gh.out" 2>&1 & gh=$!
  PIDS+=($gh)
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.05; done
  taskset -c 0 wrk -t1 -c50 -d1s "http://127.0.0.1:$port/" >/dev/null   # warm: pools, buffers
  perf stat -e "$EVENT" -p "$gh" -o "$WORK/stat" -- sleep 3.5 & stat=$!
  requests=$(taskset -c 0 wrk -t1 -c50 -d3s "http://127.0.0.1:$port/" | awk '/requests in/{print $1}')
  wait "$stat"
  mallocs=$(awk -v e="$EVENT" '$2 == e {gsub(",", "", $1); print $1}' "$WORK/stat")
  python3 -c "import sys; r, m = int(sys.argv[2]), int(sys.argv[3]); print(f'{sys.argv[1]}: {m / r:.1f} mallocs per request ({m} in {r} requests)')" \
    "$build" "$requests" "$mallocs"
  # System calls: one connection, so that each request's calls are its own.
  timeout 5 strace -c -f -p "$gh" -o "$WORK/strace" 2>/dev/null & tracer=$!
  sleep 0.5
  requests=$(taskset -c 0 wrk -t1 -c1 -d2s "http://127.0.0.1:$port/" | awk '/requests in/{print $1}')
  kill -INT "$tracer" 2>/dev/null || true
  wait "$tracer" 2>/dev/null || true
  python3 - "$WORK/strace" "$requests" <<'PY'
import sys
requests = int(sys.argv[2])
calls = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 5 and f[0][0].isdigit() and f[-1] not in ("total", "clock_nanosleep", "restart_syscall"):
        calls[f[-1]] = int(f[3])
per = {k: v / requests for k, v in calls.items() if v / requests >= 0.05}
print("  system calls per request (serial): " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]))
      + f" (total {sum(per.values()):.2f}; {requests} requests under strace)")
PY
  kill "$gh"; wait "$gh" 2>/dev/null || true
done
