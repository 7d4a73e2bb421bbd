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
