"""The starting point of the distributed-lock challenge.

It serves GET /healthz and answers 501 on POST /api/report/run. The challenge's README.md
(templates/distributed-lock/README.md) is the contract: status codes, the store's API, every
number, and how it is graded. In short:

- Two replicas of this service run side by side (INSTANCE_ID app-1 and app-2), sharing Redis.
- POST /api/report/run: take the lock in Redis with a 2 s lease and a fencing token from a
  counter that only goes up, write steps 1 to 5 to $DOWNSTREAM_URL/fenced/report with the
  token (pausing 250 ms between steps), then release the lock only if it is still yours.
- Answer 200 {"ran": true, "token": n} when every step was accepted, 409 {"ran": false} when
  the lock is taken, 409 {"ran": false, "token": n} when the store refused a write (stop then).
- The root filesystem is read-only (only /tmp is writable) and there is no internet access
  while the service runs.

Only the standard library and redis-py are used. The Dockerfile explains how
requirements.txt is installed, and when it is not.
"""

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis

PORT = int(os.environ.get("PORT", "3000"))
INSTANCE_ID = os.environ.get("INSTANCE_ID", "app")  # app-1, app-2…
STORE_URL = os.environ.get("DOWNSTREAM_URL", "http://downstream:8070").rstrip("/") + "/fenced/report"

# The client connects lazily (the first command does) and reconnects by itself.
REDIS = redis.Redis.from_url(
    os.environ.get("REDIS_URL", "redis://redis:6379/0"), socket_timeout=1, socket_connect_timeout=1
)


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections open; every response must then carry Content-Length,
    # and every request body must be read (send_json and read_body do both).
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.read_body()
        if self.path.split("?", 1)[0] == "/healthz":
            self.send_json(200, {"status": "ok"})
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self):
        self.read_body()
        if self.path.split("?", 1)[0] == "/api/report/run":
            self.run_report()
        else:
            self.send_json(404, {"error": "not found"})

    def run_report(self):
        """POST /api/report/run: take the lock and a fencing token, write the report's steps to
        the store, release the lock."""
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
    print(f"{INSTANCE_ID} listening on 0.0.0.0:{PORT}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
