#!/usr/bin/env bash
# End-to-end proxy benchmark: Gatehouse vs nginx, proxying the same origin, side by side.
#
#   scripts/bench-proxy.sh            # 3 alternating rounds of 10 s per scenario
#   ROUNDS=5 DURATION=20 scripts/bench-proxy.sh
#   GATEHOUSE_BIN=/path/to/other/gatehouse scripts/bench-proxy.sh   # compare another build
#
# Installs wrk and nginx from Debian when missing. On loopback: an nginx origin (core 0),
# nginx as a proxy and Gatehouse as a proxy (each pinned to core 1, one at a time), wrk on
# core 0. Prints req/s, p50 and p99 latency and the proxy's CPU time per request (utime +
# stime from /proc, steadier than req/s on a shared machine), and the ratio Gatehouse/nginx
# (medians over the rounds), for 50 keep-alive connections, 1 connection, and a new
# connection per request, over HTTP and then over HTTPS (the same RSA-2048 certificate on
# both; a new HTTPS connection per request measures full TLS handshakes per second); then
# Gatehouse with a JwtSession route (the cookie decrypted on every request) against nginx's
# plain proxying; then both on two cores (nginx with two workers, Gatehouse with two gateway
# units, wrk with two threads, all on cores 0-1); then idle RSS and RSS per 1,000 idle keep-alive connections; then the RSS
# of a freshly started gateway on the welcome instance.
# SCENARIOS="name:conns:close:scheme:path ..." runs a subset.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
. scripts/lib/bench.sh
bench_workdir gatehouse-bench

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v taskset >/dev/null || need+=(util-linux)
command -v python3 >/dev/null || need+=(python3)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
. scripts/lib/packages.sh
install_packages "${need[@]}"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# GATEHOUSE_BIN compares another build (an earlier commit's) in the same harness.
if [ -z "${GATEHOUSE_BIN:-}" ]; then cargo build --release --locked -q; fi
GATEHOUSE=${GATEHOUSE_BIN:-$PWD/target/release/gatehouse}

wait_port() { for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }

ORIGIN_PORT=$(free_port); NGINX_PORT=$(free_port); GH_PORT=$(free_port)
NGINX_TLS_PORT=$(free_port); GH_TLS_PORT=$(free_port)
mkdir -p "$WORK/secrets"
openssl req -newkey rsa:2048 -nodes -x509 -days 2 -subj /CN=localhost -keyout "$WORK/secrets/key.pem" \
  -out "$WORK/secrets/cert.pem" 2>/dev/null
cat "$WORK/secrets/key.pem" "$WORK/secrets/cert.pem" > "$WORK/secrets/tls.pem"

# The origin: a fixed 13-byte answer, keep-alive.
start_origin

# nginx as the proxy, with an access log (Gatehouse writes one too) and pooled upstreams.
# TLS as Gatehouse negotiates it: nginx before 1.23.4 (Debian 12 has 1.22) speaks only up to
# TLS 1.2 unless told, and a resumed TLS 1.2 session skips the key exchange a TLS 1.3 one
# makes; and the server's order of suites, SHA-256 first (Gatehouse's default).
proxy_conf "$WORK/proxy" "listen 127.0.0.1:$NGINX_PORT;
    listen 127.0.0.1:$NGINX_TLS_PORT ssl; ssl_certificate $WORK/secrets/cert.pem; ssl_certificate_key $WORK/secrets/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3; ssl_prefer_server_ciphers on;
    ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;"
taskset -c 1 "$NGINX" -p "$WORK/proxy" -c "$WORK/proxy/nginx.conf" & PIDS+=($!)

# Gatehouse as the proxy: one route, the default ReverseProxyHandler.
mkdir -p "$WORK/gh/config/routes"
cat > "$WORK/gh/config/admin.json" <<JSON
{ "connectors": [ { "port": $GH_PORT, "host": "127.0.0.1" }, { "port": $GH_TLS_PORT, "host": "127.0.0.1", "tls": "Tls" } ],
  "heap": [ { "name": "Pem", "type": "FileSystemSecretStore", "config": { "directory": "$WORK/secrets", "format": "PLAIN",
              "suffix": ".pem", "mappings": [ { "secretId": "tls", "format": "PemPropertyFormat" } ] } },
            { "name": "Tls", "type": "ServerTlsOptions", "config": { "keyManager": { "type": "SecretsKeyManager",
              "config": { "signingSecretId": "tls", "secretsProvider": "Pem" } } } } ] }
JSON
echo "{ \"baseURI\": \"http://127.0.0.1:$ORIGIN_PORT\", \"handler\": \"ReverseProxyHandler\" }" > "$WORK/gh/config/routes/z-proxy.json"
# A JwtSession route: /login puts a user in the session, /session reads it on every request
# (the user goes upstream as X-User), so the cookie is decrypted (not rewritten) each time.
SESSION='"session": { "type": "JwtSession", "config": { "authenticatedEncryptionSecretId": "k", "encryptionMethod": "A256CBC-HS512",
  "secretsProvider": { "type": "Base64EncodedSecretStore", "config": { "secrets": {
  "k": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==" } } } } }'
cat > "$WORK/gh/config/routes/a-login.json" <<JSON
{ "condition": "\${request.uri.path == '/login'}", $SESSION,
  "handler": { "type": "Chain", "config": { "filters": [ { "type": "AssignmentFilter", "config": { "onRequest": [
    { "target": "\${session.user}", "value": "bench" } ] } } ],
    "handler": { "type": "StaticResponseHandler", "config": { "status": 200 } } } } }
JSON
cat > "$WORK/gh/config/routes/b-session.json" <<JSON
{ "condition": "\${request.uri.path == '/session'}", $SESSION, "baseURI": "http://127.0.0.1:$ORIGIN_PORT",
  "handler": { "type": "Chain", "config": { "filters": [ { "type": "HeaderFilter", "config": { "messageType": "REQUEST",
    "add": { "X-User": [ "\${session.user}" ] } } } ], "handler": "ReverseProxyHandler" } } }
JSON
RUST_LOG=warn taskset -c 1 "$GATEHOUSE" start "$WORK/gh" > "$WORK/gh.out" 2>&1 & PIDS+=($!)
GH_PID=$!

# Two cores: nginx with two workers and Gatehouse with two gateway units, each alone on both
# cores (with wrk's two threads and the origin), the same routes.
NGINX2_PORT=$(free_port); GH2_PORT=$(free_port)
proxy_conf "$WORK/proxy2" "listen 127.0.0.1:$NGINX2_PORT;"
sed -i 's/^worker_processes 1;/worker_processes 2;/' "$WORK/proxy2/nginx.conf"
taskset -c 0,1 "$NGINX" -p "$WORK/proxy2" -c "$WORK/proxy2/nginx.conf" & PIDS+=($!)
mkdir -p "$WORK/gh2/config/routes"
echo "{ \"gatewayUnits\": 2, \"connectors\": [ { \"port\": $GH2_PORT, \"host\": \"127.0.0.1\" } ] }" > "$WORK/gh2/config/admin.json"
cp "$WORK/gh/config/routes/z-proxy.json" "$WORK/gh2/config/routes/"
RUST_LOG=warn taskset -c 0,1 "$GATEHOUSE" start "$WORK/gh2" > "$WORK/gh2.out" 2>&1 & PIDS+=($!)
GH2_PID=$!

wait_port "$ORIGIN_PORT"; wait_port "$NGINX_PORT"; wait_port "$GH_PORT"; wait_port "$GH_TLS_PORT"
wait_port "$NGINX2_PORT"; wait_port "$GH2_PORT"
curl -sf "http://127.0.0.1:$NGINX_PORT/" >/dev/null && curl -sf "http://127.0.0.1:$GH_PORT/" >/dev/null
curl -sfk "https://127.0.0.1:$NGINX_TLS_PORT/" >/dev/null && curl -sfk "https://127.0.0.1:$GH_TLS_PORT/" >/dev/null
COOKIE=$(curl -si "http://127.0.0.1:$GH_PORT/login" | sed -n 's/^set-cookie: \(IG=[^;]*\).*/\1/p')
[ -n "$COOKIE" ] || { echo "no session cookie from /login" >&2; exit 1; }
curl -sf -b "$COOKIE" "http://127.0.0.1:$GH_PORT/session" >/dev/null

cpu_ticks() { local t=0 p; for p in $1; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }

# wrk prints latency percentiles with --latency; return "req/s p50_ms p99_ms cpu_us_per_request".
run_wrk() { # $1 scheme, $2 port, $3 path, $4 pids of the proxy, $5 connections, $6 cores, extra args...
  local scheme=$1 port=$2 path=$3 pid=$4 conns=$5 cores=$6; shift 6
  local before; before=$(cpu_ticks "$pid")
  local on=(taskset -c 0 wrk -t1)
  [ "$cores" = 2 ] && on=(taskset -c 0,1 wrk -t2)
  "${on[@]}" -c"$conns" -d"${DURATION}s" --latency "$@" "$scheme://127.0.0.1:$port$path" > "$WORK/wrk.out" 2>&1 || true
  local after; after=$(cpu_ticks "$pid")
  python3 - "$WORK/wrk.out" "$((after - before))" "$(getconf CLK_TCK)" <<'PY'
import re, sys
out = open(sys.argv[1]).read()
ticks, hz = int(sys.argv[2]), int(sys.argv[3])
unit = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
def pct(p):
    m = re.search(p + r"%\s+([\d.]+)(us|ms|s|m)\b", out)
    if not m:
        sys.exit("cannot read the %s%% latency from wrk:\n%s" % (p, out))
    return float(m.group(1)) * unit[m.group(2)]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
errs = re.findall(r"Non-2xx or 3xx responses: \d+|Socket errors: [^\n]*", out)
total = int(re.search(r"(\d+) requests in", out).group(1))
cpu_us = ticks / hz * 1e6 / max(total, 1)
print(f"{rps:.0f} {pct('50'):.3f} {pct('99'):.3f} {cpu_us:.1f}" + (f"  # {'; '.join(errs)}" if errs else ""))
PY
}

median() { python3 -c 'import sys, statistics; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

NGINX_WORKER=$(pgrep -P "$(cat "$WORK/proxy/nginx.pid")" | head -1)
NGINX2_WORKERS=$(pgrep -P "$(cat "$WORK/proxy2/nginx.pid")" | tr '\n' ' ')
printf '\n%-22s %-10s %12s %10s %10s %14s\n' scenario proxy "req/s" "p50 ms" "p99 ms" "CPU us/req"
declare -A RESULTS
SCENARIOS=${SCENARIOS:-"keepalive-50:50::http:/ single-connection:1::http:/ new-connection-each:50:close:http:/ https-keepalive-50:50::https:/ https-new-conn-each:50:close:https:/ session-keepalive-50:50::http:/session two-cores-keepalive-50:50::http:/:2"}
for scenario in $SCENARIOS; do
  IFS=: read -r name conns close scheme path cores <<<"$scenario"
  cores=${cores:-1}
  extra=(); [ -n "${close:-}" ] && extra=(-H "Connection: close")
  # The session scenario sends the cookie to both; nginx proxies plainly and ignores it.
  [ "$path" = /session ] && extra+=(-H "Cookie: $COOKIE")
  for proxy in nginx gatehouse; do RESULTS[$proxy-rps]=""; RESULTS[$proxy-p50]=""; RESULTS[$proxy-p99]=""; RESULTS[$proxy-cpu]=""; done
  for round in $(seq "$ROUNDS"); do
    for proxy in nginx gatehouse; do   # alternate, so drift hits both alike
      port=$NGINX_PORT; pid=$NGINX_WORKER
      if [ $proxy = gatehouse ]; then port=$GH_PORT; pid=$GH_PID; fi
      if [ "$scheme" = https ]; then port=$NGINX_TLS_PORT; [ $proxy = gatehouse ] && port=$GH_TLS_PORT; fi
      if [ "$cores" = 2 ]; then port=$NGINX2_PORT; pid=$NGINX2_WORKERS; [ $proxy = gatehouse ] && port=$GH2_PORT && pid=$GH2_PID; fi
      read -r rps p50 p99 cpu _ <<<"$(run_wrk "$scheme" "$port" "$path" "$pid" "$conns" "$cores" "${extra[@]}")"
      RESULTS[$proxy-rps]+=" $rps"; RESULTS[$proxy-p50]+=" $p50"; RESULTS[$proxy-p99]+=" $p99"; RESULTS[$proxy-cpu]+=" $cpu"
    done
  done
  for proxy in nginx gatehouse; do
    rps=$(median ${RESULTS[$proxy-rps]}); p50=$(median ${RESULTS[$proxy-p50]}); p99=$(median ${RESULTS[$proxy-p99]}); cpu=$(median ${RESULTS[$proxy-cpu]})
    RESULTS[$proxy-m]="$rps $p50 $p99 $cpu"
    printf '%-22s %-10s %12.0f %10.3f %10.3f %14.1f\n' "$name" "$proxy" "$rps" "$p50" "$p99" "$cpu"
  done
  read -r n_rps n_p50 n_p99 n_cpu <<<"${RESULTS[nginx-m]}"; read -r g_rps g_p50 g_p99 g_cpu <<<"${RESULTS[gatehouse-m]}"
  python3 -c "print(f'%-22s %-10s %12s %10s %10s %14s' % ('', 'ratio g/n', f'{$g_rps/$n_rps:.2f}', f'{$g_p50/$n_p50:.2f}', f'{$g_p99/$n_p99:.2f}', f'{$g_cpu/$n_cpu:.2f}'))"
done

# Memory: idle RSS, then RSS with 1,000 idle keep-alive connections that each made a request.
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
hold_connections() { # $1 port; keeps 1000 connections open until stdin closes
  python3 -c '
import socket, sys
port = int(sys.argv[1]); conns = []
for _ in range(1000):
    s = socket.create_connection(("127.0.0.1", port)); s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"); conns.append(s)
for s in conns:
    buf = b""
    while b"hello" not in buf: buf += s.recv(4096)
print("open", flush=True); sys.stdin.read()' "$1"
}
echo
for proxy in nginx gatehouse; do
  if [ $proxy = nginx ]; then pid=$NGINX_WORKER; port=$NGINX_PORT; else pid=$GH_PID; port=$GH_PORT; fi
  idle=$(rss_kib "$pid")
  coproc HOLD { hold_connections "$port"; }
  read -r _ <&"${HOLD[0]}"
  busy=$(rss_kib "$pid")
  exec {HOLD[1]}>&-; wait "$HOLD_PID" 2>/dev/null || true
  printf '%-10s idle RSS %6d KiB; with 1,000 idle keep-alive connections %6d KiB (+%d KiB per 1,000)\n' "$proxy" "$idle" "$busy" $((busy - idle))
done

# A freshly started gateway on the welcome instance (issue #16's 10 MB goal), once it answers.
WELCOME=$WORK/welcome; mkdir -p "$WELCOME/config"
W_PORT=$(free_port)
echo "{ \"connectors\": [ { \"port\": $W_PORT, \"host\": \"127.0.0.1\" } ] }" > "$WELCOME/config/admin.json"
RUST_LOG=warn "$GATEHOUSE" start "$WELCOME" >/dev/null 2>&1 & W_PID=$!; PIDS+=("$W_PID")
wait_port "$W_PORT"
curl -s -o /dev/null "http://127.0.0.1:$W_PORT/"
printf 'gatehouse  fresh RSS on the welcome instance %6d KiB\n' "$(rss_kib "$W_PID")"
