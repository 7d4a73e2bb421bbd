#!/usr/bin/env bash
# The gateway under sustained load while routes reload, the upstream is killed and restarted,
# the TLS certificate is replaced and the relay's PostgreSQL restarts; reports the requests
# that failed (outside the origin's downtime they must be zero) and checks that no relay
# command the gateway acknowledged was lost. See scripts/load-and-fault.py for the schedule.
#
#   scripts/load-and-fault.sh                 # 5 minutes
#   DURATION=60 WORKERS=4 scripts/load-and-fault.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh >/dev/null
. scripts/lib/packages.sh
command -v nginx >/dev/null || install_packages nginx-light
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ -z "${GATEHOUSE_BIN:-}" ]; then cargo build --release --locked -q; fi
GATEHOUSE=${GATEHOUSE_BIN:-$PWD/target/release/gatehouse}

WORK=$(mktemp -d /tmp/gatehouse-fault.XXXXXX)
GW_PID=""
cleanup() { [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null; pkill -f "nginx -p $WORK" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
. scripts/lib/bench.sh
ORIGIN_PORT=$(free_port); PORT=$(free_port); TLS_PORT=$(free_port)

# The origin: nginx answering 200 on every path, restarted by the fault schedule.
mkdir -p "$WORK/origin/logs"
cat > "$WORK/origin/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $WORK/origin/nginx.pid; error_log $WORK/origin/logs/error.log crit;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$ORIGIN_PORT; location / { return 200 'hello\n'; } } }
CONF

INST=$WORK/gw; mkdir -p "$INST/config/routes" "$INST/secrets"
openssl req -newkey rsa:2048 -nodes -x509 -days 2 -subj /CN=localhost -keyout "$WORK/k.pem" -out "$WORK/c.pem" 2>/dev/null
cat "$WORK/k.pem" "$WORK/c.pem" > "$INST/secrets/tls.pem"
SCHEMA=loadfault_$$
PG="host=127.0.0.1 port=5432 user=postgres password=postgres dbname=postgres"
cat > "$INST/config/admin.json" <<JSON
{ "connectors": [ { "port": $PORT, "host": "127.0.0.1" }, { "port": $TLS_PORT, "host": "127.0.0.1", "tls": "Tls" } ],
  "heap": [ { "name": "Pem", "type": "FileSystemSecretStore", "config": { "directory": "$INST/secrets", "format": "PLAIN",
              "suffix": ".pem", "autoRefresh": true, "mappings": [ { "secretId": "tls", "format": "PemPropertyFormat" } ] } },
            { "name": "Tls", "type": "ServerTlsOptions", "config": { "keyManager": { "type": "SecretsKeyManager",
              "config": { "signingSecretId": "tls", "secretsProvider": "Pem" } } } } ] }
JSON
cat > "$INST/config/routes/app.json" <<JSON
{ "condition": "\${find(request.uri.path, '^/app/')}", "baseURI": "http://127.0.0.1:$ORIGIN_PORT", "handler": "ReverseProxyHandler" }
JSON
cat > "$INST/config/routes/static.json" <<'JSON'
{ "condition": "${request.uri.path == '/static'}", "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "v0" } } }
JSON
cat > "$INST/config/routes/relay.json" <<JSON
{ "condition": "\${find(request.uri.path, '^/hermod/')}", "handler": { "type": "MessagingRelay", "config": {
    "store": { "postgresql": "$PG", "schema": "$SCHEMA" },
    "clients": [ { "clientId": "prime1", "key": "079b6a64d75b4e9585bd0c24f36a7deba0ad03498ecf4d69b5766f24fa02e045" } ] } } }
JSON

VERSION=$(ls /etc/postgresql | sort -V | tail -n 1)
PG_RESTART="pg_ctlcluster --skip-systemctl-redirect $VERSION main restart -m fast || pg_ctlcluster $VERSION main restart -m fast"

RUST_LOG=warn "$GATEHOUSE" start "$INST" > "$WORK/gw.out" 2> "$WORK/gw.err" & GW_PID=$!
for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break; sleep 0.05; done

export ORIGIN_PORT
status=0
python3 scripts/load-and-fault.py "$GATEHOUSE" "exec $NGINX -p $WORK/origin -c $WORK/origin/nginx.conf" "$INST" "$PG_RESTART" "$PORT" "$TLS_PORT" || status=$?
echo "gateway log (warnings and errors): $(wc -l < "$WORK/gw.err") lines; the last ones:"
tail -n 5 "$WORK/gw.err" | cut -c1-200
psql "postgresql://postgres:postgres@127.0.0.1:5432/postgres" -q -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
exit $status
