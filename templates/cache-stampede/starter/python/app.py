"""The starting point of the cache-stampede challenge.

It serves GET /healthz and answers 501 on the product route. The challenge's README.md
(templates/cache-stampede/README.md) is the contract: status codes, the origin, the cache's
numbers, and how it is graded. In short:

- Listen on $PORT (3000). Every response body is JSON; errors are {"error": "..."}.
- GET /api/products/<id>: read the product through a cache in Redis ($REDIS_URL), shared by
  both replicas of the service; on a miss, GET $DOWNSTREAM_URL/products/<id> (slow).
- However many requests miss at once, across both replicas, one of them calls the origin.
- The root filesystem is read-only (only /tmp is writable) and there is no internet access
  while the service runs.

Only the standard library and redis-py are used. The Dockerfile explains how
requirements.txt is installed, and when it is not.
"""

import json
import os
import signal
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis

PORT = int(os.environ.get("PORT", "3000"))
ORIGIN = os.environ.get("DOWNSTREAM_URL", "http://downstream:8070").rstrip("/")

# redis-py connects lazily (the first command does) and is safe to share between threads.
# Without timeouts, a command to an unreachable Redis could wait for a long time.
rdb = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://redis:6379/0"),
                           socket_timeout=0.5, socket_connect_timeout=0.5)


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections open; every response must then carry Content-Length,
    # and every request body must be read (send_json and read_body do both).
    protocol_version = "HTTP/1.1"
    # Send small responses at once: with Nagle's algorithm on, http.server's separate header
    # and body writes wait for the client's delayed ACK (~40 ms per answer).
    disable_nagle_algorithm = True

    def do_GET(self):
        self.read_body()  # a GET rarely has one, but unread bytes would break keep-alive
        path = self.path.split("?", 1)[0]
        product_id = urllib.parse.unquote(path.removeprefix("/api/products/")) if path.startswith("/api/products/") else ""
        if path == "/healthz":
            self.send_json(200, {"status": "ok"})
        elif product_id and "/" not in product_id:
            self.get_product(product_id)
        else:
            self.send_json(404, {"error": "not found"})

    def get_product(self, product_id):
        """GET /api/products/<product_id>."""
        self.send_json(501, {"error": "not implemented"})

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass  # one line per request would drown the log under load


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog (5) drops connections when dozens of clients connect at once; the
    # client retries a dropped connection a second later, which the grader sees as latency.
    request_queue_size = 256

    def handle_error(self, request, client_address):
        # A client that hangs up mid-connection is routine; keep the log for real errors.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    # As PID 1 in a container, SIGTERM is ignored unless handled: exit promptly instead.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    server = Server(("0.0.0.0", PORT), Handler)
    print(f"listening on 0.0.0.0:{PORT}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
