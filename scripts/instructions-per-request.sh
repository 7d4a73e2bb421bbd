#!/usr/bin/env bash
# Instructions one proxied request costs, Gatehouse beside nginx: callgrind counts the
# instructions a process executes, so the figure is the same whatever else the machine is
# doing (req/s in scripts/bench-proxy.sh move with the load). Each proxy runs under
# `valgrind --tool=callgrind` with the same 13-byte nginx origin (not under valgrind) behind
# it; after a warm-up its counters are zeroed, wrk sends requests on 50 keep-alive
# connections, and the instructions counted then are divided by the requests wrk completed.
# Instructions are not cycles (cache misses and branch mispredictions are not in them), but
# a change that removes work shows here without noise.
#
#   scripts/instructions-per-request.sh                       # the release build here
#   scripts/instructions-per-request.sh /tmp/gh-a /tmp/gh-b   # builds side by side
#   CONNS=1 scripts/instructions-per-request.sh               # one connection, serial
#   KEEP=/tmp/cg scripts/instructions-per-request.sh          # keep the profiles (callgrind_annotate)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v valgrind >/dev/null || need+=(valgrind)
. scripts/lib/packages.sh
install_packages "${need[@]}"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
CONNS=${CONNS:-50}
DURATION=${DURATION:-10}
builds=("$@")
if ((${#builds[@]} == 0)); then
  cargo build --release --locked -q
  builds=("$PWD/target/release/gatehouse")
fi

. scripts/lib/bench.sh
bench_workdir gatehouse-instr
start_origin

# Runs "$@" under callgrind on core 1, serving on port $PORT: prints instructions per request.
measure() {
  local name=$1 out=$WORK/callgrind.out; shift
  rm -f "$out"*
  taskset -c 1 valgrind -q --tool=callgrind --compress-strings=no --callgrind-out-file="$out" "$@" > "$WORK/proc.out" 2>&1 & local pid=$!
  PIDS+=($pid)
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$PORT/" >/dev/null && break; sleep 0.1; done
  taskset -c 0 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$PORT/" >/dev/null   # warm: pools, buffers
  callgrind_control -z "$pid" >/dev/null
  local requests
  requests=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$PORT/" | awk '/requests in/{print $1}')
  callgrind_control -d "$pid" >/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true
  # The first dump (`.1`) holds what ran between the zeroing and the dump: the measured part.
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; cp "$out.1" "$KEEP/$(basename "$name").callgrind"; fi
  local ir
  ir=$(awk '/^summary:|^totals:/ {print $2; exit}' "$out.1")
  python3 -c "import sys; r, i = int(sys.argv[2]), int(sys.argv[3]); print(f'{sys.argv[1]}: {i / r:,.0f} instructions per request ({r} requests, {sys.argv[4]} connections)')" \
    "$name" "$requests" "$ir" "$CONNS"
}

# nginx as the proxy, as in scripts/bench-proxy.sh (access log, pooled upstreams), one process.
PORT=$(free_port)
proxy_conf "$WORK/proxy" "listen 127.0.0.1:$PORT;"
sed -i 's/^daemon off;/daemon off;\nmaster_process off;/' "$WORK/proxy/nginx.conf"
measure nginx "$NGINX" -p "$WORK/proxy" -c "$WORK/proxy/nginx.conf"

for build in "${builds[@]}"; do
  PORT=$(free_port)
  proxy_instance "$WORK/gh" "$PORT"
  RUST_LOG=warn measure "$build" "$build" start "$WORK/gh"
done
