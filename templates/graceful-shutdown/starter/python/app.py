"""The starting point of the graceful-shutdown challenge.

It serves GET /healthz and answers 501 on /readyz and the transfer routes. The challenge's
README.md (templates/graceful-shutdown/README.md) is the contract: routes, status codes, the
schema, and how it is graded. In short:

- Listen on $PORT (3000). Every response body is JSON; errors are {"error": "..."}.
- POST /api/transfers: the transfer row, the debit, work_ms of waiting, the credit, in ONE
  transaction; 201 after COMMIT. GET /api/transfers/<id>: the transfer, or 404.
- GET /readyz: 200 while you take new work, 503 from SIGTERM on.
- On SIGTERM (you run as PID 1: there is no default handler): stop taking new work, finish
  the requests in flight, then exit 0 within 6 s.
- The root filesystem is read-only (only /tmp is writable) and there is no internet access
  while the service runs.

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

    def do_GET(self):
        self.read_body()  # a GET rarely has one, but unread bytes would break keep-alive
        path = self.path.split("?", 1)[0]
        transfer_id = path.removeprefix("/api/transfers/") if path.startswith("/api/transfers/") else ""
        if path == "/healthz":
            self.send_json(200, {"status": "ok"})
        elif path == "/readyz":
            self.readyz()
        elif transfer_id and "/" not in transfer_id:
            self.get_transfer(transfer_id)
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self):
        body = self.read_body()
        if self.path.split("?", 1)[0] == "/api/transfers":
            self.create_transfer(body)
        else:
            self.send_json(404, {"error": "not found"})

    def readyz(self):
        """GET /readyz."""
        self.send_json(501, {"error": "not implemented"})

    def create_transfer(self, body):
        """POST /api/transfers; body is bytes."""
        self.send_json(501, {"error": "not implemented"})

    def get_transfer(self, transfer_id):
        """GET /api/transfers/<transfer_id>."""
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
    def handle_error(self, request, client_address):
        # A client that hangs up mid-connection is routine; keep the log for real errors.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    # As PID 1 in a container, SIGTERM is ignored unless handled.
    # TODO: this exits at once and drops every request in flight. The challenge is to shut
    # down gracefully instead: see "Shutting down" in README.md.
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(0))
    server = Server(("0.0.0.0", PORT), Handler)
    print(f"listening on 0.0.0.0:{PORT}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
