"""The starting point of the rate-limiter challenge.

It serves GET /healthz and answers 501 on GET /api/resource. The challenge's README.md
(templates/rate-limiter/README.md) is the contract: status codes, headers, the limit, and how
it is graded. In short:

- Listen on $PORT (3000). Every response body is JSON; errors are {"error": "..."}.
- GET /api/resource with an X-Client-Id header: at most 10 requests per client per fixed
  2-second window, counted in Redis ($REDIS_URL) because two replicas of this service share
  the limit. Admitted: call GET $DOWNSTREAM_URL/work?client=<id>, then answer 200.
  Over the limit: 429 with Retry-After, RateLimit-Policy and RateLimit headers.
- Redis unreachable or silent: 503 with Retry-After: 1 within a second, and admit nothing.
- The root filesystem is read-only (only /tmp is writable) and there is no internet
  access while the service runs.

Only the standard library and redis-py are used. The Dockerfile explains how
requirements.txt is installed, and when it is not. Code for Python 3.11 and 3.12, and for
redis-py 4.3 (the grader's offline image) as well as 5.x.
"""

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis

PORT = int(os.environ.get("PORT", "3000"))
REDIS_URL = os.environ.get("REDIS_URL", "redis://redis:6379/0")
DOWNSTREAM_URL = os.environ.get("DOWNSTREAM_URL", "http://downstream:8070").rstrip("/")

# redis-py connects lazily (the first command does) and keeps a pool shared by the
# threads. Its timeouts are None by default: a silent Redis would hang a request for ever.
# Look at socket_timeout and socket_connect_timeout.
r = redis.Redis.from_url(REDIS_URL)


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections open; every response must then carry Content-Length,
    # and every request body must be read (send_json and read_body do both).
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.read_body()  # a GET rarely has one, but unread bytes would break keep-alive
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self.send_json(200, {"status": "ok"})
        elif path == "/api/resource":
            self.resource()
        else:
            self.send_json(404, {"error": "not found"})

    def resource(self):
        """GET /api/resource. self.headers.get("X-Client-Id") is the client."""
        self.send_json(501, {"error": "not implemented"})

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_json(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that hangs up mid-connection is routine; keep the log for real errors.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    # As PID 1 in a container, SIGTERM is ignored unless handled: exit promptly instead.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    server = Server(("0.0.0.0", PORT), Handler)
    print(f"listening on 0.0.0.0:{PORT} ({os.environ.get('INSTANCE_ID', 'app')})", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
