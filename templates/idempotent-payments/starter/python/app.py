"""The starting point of the idempotent-payments challenge.

It serves GET /healthz and answers 501 on the payment routes. The challenge's README.md
(templates/idempotent-payments/README.md) is the contract: status codes, the provider's
API, and how it is graded. In short:

- Listen on $PORT (3000). Every response body is JSON; errors are {"error": "..."}.
- POST /api/payments with an Idempotency-Key header: charge once through
  $PROVIDER_URL/v1/charges, however often and however concurrently the key arrives.
- GET /api/payments/<id>: the payment, or 404.
- Keep state in Postgres ($DATABASE_URL): the service is killed and restarted during
  grading, and the database may refuse connections for a while.
- The root filesystem is read-only (only /tmp is writable) and there is no internet
  access while the service runs.

Only the standard library and psycopg2 are used. The Dockerfile explains how
requirements.txt is installed, and when it is not.
"""

import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

PORT = int(os.environ.get("PORT", "3000"))
DATABASE_URL = os.environ.get("DATABASE_URL", "")
PROVIDER_URL = os.environ.get("PROVIDER_URL", "http://provider:8080").rstrip("/")


def connect(timeout=30.0):
    """Opens a Postgres connection, retrying for up to `timeout` seconds: the database may
    become reachable a moment after the service starts. Nothing calls it yet."""
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
        path = self.path.split("?", 1)[0]
        payment_id = path.removeprefix("/api/payments/") if path.startswith("/api/payments/") else ""
        if path == "/healthz":
            self.send_json(200, {"status": "ok"})
        elif payment_id and "/" not in payment_id:
            self.get_payment(payment_id)
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self):
        body = self.read_body()
        if self.path.split("?", 1)[0] == "/api/payments":
            self.create_payment(body)
        else:
            self.send_json(404, {"error": "not found"})

    def create_payment(self, body):
        """POST /api/payments. self.headers.get("Idempotency-Key") is the key; body is bytes."""
        self.send_json(501, {"error": "not implemented"})

    def get_payment(self, payment_id):
        """GET /api/payments/<payment_id>."""
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
    request_queue_size = 64  # the scenarios send bursts; the default backlog of 5 drops connections

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
