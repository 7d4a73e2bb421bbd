# Sourced by the benchmark scripts: free loopback ports and nginx configurations.

# A port of 127.0.0.1 nobody listens on now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Writes $1/nginx.conf: one worker, in the foreground, $2 as the body of the http block.
nginx_conf() {
  mkdir -p "$1/logs"
  cat > "$1/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  $2
}
CONF
}

# Writes the origin every proxy benchmark proxies to into $1 (port $2): a fixed 13-byte
# answer on keep-alive connections.
origin_conf() {
  nginx_conf "$1" "server { listen 127.0.0.1:$2; keepalive_requests 1000000; location / { return 200 'hello, world\n'; } }"
}

# Sets WORK (a new directory under /tmp named after $1) and PIDS (processes to stop), both
# cleaned up when the script exits.
bench_workdir() {
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  PIDS=()
  trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
}

# Starts the origin (origin_conf) on core 0 with $NGINX, on $ORIGIN_PORT (chosen when unset).
start_origin() {
  ORIGIN_PORT=${ORIGIN_PORT:-$(free_port)}
  origin_conf "$WORK/origin" "$ORIGIN_PORT"
  taskset -c 0 "$NGINX" -p "$WORK/origin" -c "$WORK/origin/nginx.conf" & PIDS+=($!)
}

# Writes $1/nginx.conf: nginx as the proxy every benchmark compares with (access log, pooled
# upstream connections to the origin on $ORIGIN_PORT), listening as $2 says (`listen`
# directives).
proxy_conf() {
  nginx_conf "$1" "
  upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; }
  server {
    $2 keepalive_requests 1000000;
    access_log $1/logs/access.log combined buffer=64k flush=1s;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection \"\";
                 proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; }
  }"
}

# Writes a new Gatehouse instance in $1 serving port $2 with one route: the default
# ReverseProxyHandler to the origin on $ORIGIN_PORT.
proxy_instance() {
  rm -rf "$1"; mkdir -p "$1/config/routes"
  echo "{ \"connectors\": [ { \"port\": $2, \"host\": \"127.0.0.1\" } ] }" > "$1/config/admin.json"
  echo "{ \"baseURI\": \"http://127.0.0.1:$ORIGIN_PORT\", \"handler\": \"ReverseProxyHandler\" }" > "$1/config/routes/proxy.json"
}
