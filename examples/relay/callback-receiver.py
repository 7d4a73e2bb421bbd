"""A stand-in for the identity manager's callback endpoint: answers
GET /idm-operator/ws/hermod/callback/alive with 200 and an empty body, and prints every
callback it receives. Run: python3 callback-receiver.py [PORT] (default 8090)."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200 if self.path.endswith("/callback/alive") else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        print(f"callback {self.path} (Idempotency-Key {self.headers.get('Idempotency-Key')}): {json.dumps(body)}", flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


port = int(sys.argv[1]) if len(sys.argv) > 1 else 8090
print(f"listening on 127.0.0.1:{port}", flush=True)
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
