"""The starting point of the capacity-checkout challenge.

It serves GET /healthz and answers 501 on POST /checkout. README.md (one level up) has the
contract, and what to write in CAPACITY.yaml once the service works. In short:

- Listen on $PORT (3000). Every response body is JSON; errors are {"error": "..."}.
- POST /checkout {"sku", "quantity"}: the price is the Redis string price:<sku>; write the
  order to Postgres ($DATABASE_URL), charge POST $PROVIDER_URL/v1/charges, mark it paid, 201.
- At most 8 Postgres connections at any time. Requests run on many threads at once: a
  psycopg2 connection is one transaction at a time, so give each checkout its own connection
  from a pool you bound (queue.Queue with a timeout on get, say).

Only the standard library, psycopg2 and redis-py are used. The Dockerfile explains how
requirements.txt is installed, and when it is not.
"""

import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import psycopg2
import redis

PORT = int(os.environ.get("PORT", "3000"))
DATABASE_URL = os.environ.get("DATABASE_URL", "")
PROVIDER_URL = os.environ.get("PROVIDER_URL", "http://provider:8080").rstrip("/")

# redis-py connects lazily (the first command does) and is safe to share between threads.
# Without timeouts, a command to an unreachable Redis could wait for a long time.
rdb = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://redis:6379/0"),
                           socket_timeout=0.5, socket_connect_timeout=0.5)


def connect(timeout=30.0):
    """Opens a Postgres connection, retrying for up to `timeout` seconds: the database may
    become reachable a moment after the service starts. Nothing calls it yet. Open your
    connections at start: one opened under load makes its checkout wait."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return psycopg2.connect(DATABASE_URL, connect_timeout=3)
        except psycopg2.OperationalError as e:
            if time.monotonic() >= deadline:
                raise
            print(f"database not reachable yet: {e}".strip(), file=sys.stderr)
            time.sleep(1)


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections open; every response must then carry Content-Length,
    # and every request body must be read (send_json and read_body do both).
    protocol_version = "HTTP/1.1"
    # Send small responses at once: with Nagle's algorithm on, http.server's separate header
    # and body writes wait for the client's delayed ACK (~40 ms per answer).
    disable_nagle_algorithm = True

    def do_GET(self):
        self.read_body()  # a GET rarely has one, but unread bytes would break keep-alive
        if urlsplit(self.path).path == "/healthz":
            self.send_json(200, {"status": "ok"})
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self):
        body = self.read_body()
        if urlsplit(self.path).path == "/checkout":
            self.checkout(body)
        else:
            self.send_json(404, {"error": "not found"})

    def checkout(self, body):
        """POST /checkout {"sku": "...", "quantity": n}."""
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

    def log_message(self, format, *args):
        pass  # one line per request is noise at a hundred checkouts a second


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # The load arrives on many connections at once; the default backlog of 5 would make some
    # of them wait a second for a TCP retransmit.
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A client that hangs up mid-connection is routine; keep the log for real errors.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    # As PID 1 in a container, SIGTERM is ignored unless handled: exit promptly instead.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    server = Server(("0.0.0.0", PORT), Handler)
    print(f"listening on 0.0.0.0:{PORT} (provider {PROVIDER_URL})", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
